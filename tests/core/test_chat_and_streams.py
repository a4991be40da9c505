"""The plain turn format, chat templates, stop handling in streams."""

import threading

import pytest

from core.chat import PLAIN_STOP, Message, chat_prompt, chat_stops, plain_chat_prompt
from core.errors import ConfigError
from core.generation import Completion, StopFilter, TokenStream, cut_at_stop, normalise


def test_plain_format_is_the_documented_one():
    text = plain_chat_prompt([Message("system", "Be brief."), Message("user", "Hi"),
                              Message("assistant", "Hello."), Message("user", "2+2?")])
    assert text == "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: 2+2?\nAssistant:"
    assert plain_chat_prompt([Message("user", "Hi")]) == "User: Hi\nAssistant:"


def test_empty_system_text_is_left_out():
    assert plain_chat_prompt([Message("system", "  "), Message("user", "Hi")]) == "User: Hi\nAssistant:"


def test_system_turn_in_the_middle_is_refused():
    with pytest.raises(ConfigError, match="system message may only come first"):
        plain_chat_prompt([Message("user", "a"), Message("system", "b")])


def test_unknown_role_is_refused():
    with pytest.raises(ConfigError, match="Unknown message role"):
        Message("bot", "hi")


def test_chat_template_is_used_where_the_model_has_one(tiny_chat_model_dir, tiny_model_dir):
    from transformers import AutoTokenizer

    with_template = AutoTokenizer.from_pretrained(tiny_chat_model_dir)
    text = chat_prompt(with_template, [Message("system", "S"), Message("user", "U")])
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    assert chat_stops(with_template) == ()
    plain = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert chat_prompt(plain, [Message("user", "U")]).endswith("Assistant:")
    assert chat_stops(plain) == (PLAIN_STOP,)


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("abc END def ###", ("###", "END")) == ("abc ", True)
    assert cut_at_stop("abc", ("x",)) == ("abc", False)


def test_stop_filter_never_shows_a_stop_sequence_split_over_chunks():
    flt = StopFilter(("\nUser:",))
    shown = [flt.feed(c) for c in ["Hello", " world\n", "Us", "er: next"]]
    assert "".join(shown) + flt.flush() == "Hello world"
    assert flt.stopped


def test_stop_filter_releases_held_text_that_was_not_a_stop():
    flt = StopFilter(("\nUser:",))
    shown = "".join(flt.feed(c) for c in ["a\n", "Us", "b"]) + flt.flush()
    assert shown == "a\nUsb" and not flt.stopped


def test_normalised_probabilities_sum_to_one():
    scores = normalise(["a", "b"], [-1.0, -2.0], [1, 1])
    assert abs(sum(s.probability for s in scores) - 1) < 1e-9
    assert scores[0].probability > scores[1].probability


def test_stop_filter_holds_and_cuts_a_non_ascii_stop():
    flt = StopFilter(("→→",))
    shown = [flt.feed(c) for c in ["a → b ", "→", "→ c"]]
    assert "".join(shown) + flt.flush() == "a → b " and flt.stopped


def _locked_stream():
    """A stream whose generator holds a lock while open, as the llama.cpp engine's does."""
    lock = threading.Lock()

    def chunks():
        with lock:
            for i in range(100):
                yield f"t{i} "

    def finish(text, first_at, cancelled):
        return Completion(text, 1, len(text.split()), 0.1, "cancelled" if cancelled else "length",
                          "fake", "fake")

    return TokenStream(chunks(), threading.Event(), finish), lock


def test_closing_a_stream_releases_what_its_generator_holds():
    stream, lock = _locked_stream()
    iterator = iter(stream)
    next(iterator), next(iterator)
    stream.close()
    assert lock.acquire(timeout=1)
    assert stream.completion.text == "t0 t1 " and stream.completion.finish_reason == "cancelled"


def test_a_stream_closed_before_reading_has_a_cancelled_completion():
    stream, lock = _locked_stream()
    stream.close()
    assert stream.completion.finish_reason == "cancelled" and lock.acquire(timeout=1)

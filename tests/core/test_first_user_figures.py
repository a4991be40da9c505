"""What a first-time user reads beside an answer: decoding and prompt speeds apart, labels
scored in the forms the model writes them, reference answers and whether they match, and
a History that keeps how an answer was asked for (issue 14)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from core.cli import main
from core.config import GenerationParams, ModelSpec
from core.engines import answer_prefix, label_forms, score_labels
from core.generation import CandidateScore, Completion, normalise
from core.history import export_history, get_generation, list_generations, record_generation
from core.paths import history_db_path
from core.reference import find_reference, judge, tasks_of


# -- speeds ---------------------------------------------------------------


def test_three_tokens_after_a_slow_first_token_decode_fast():
    # the case: 3 answer tokens, 1.8 s to the first, 2.0 s in all
    done = Completion("Mixed.", 120, 3, 2.0, "stop", "llama.cpp", "m", time_to_first_token_s=1.8)
    assert done.tokens_per_s == pytest.approx(1.5)  # the old figure, History's stored column
    assert done.decode_tokens_per_s == pytest.approx(10.0)  # 2 tokens after the first in 0.2 s
    assert done.prompt_tokens_per_s == pytest.approx(120 / 1.8)
    figures = done.figures()
    assert figures["decode_tokens_per_s"] == 10.0 and figures["prompt_tokens_per_s"] == 66.67


def test_speeds_that_cannot_be_told_are_none():
    assert Completion("x", 5, 1, 1.0, "stop", "e", "m", 0.9).decode_tokens_per_s is None
    assert Completion("x", 5, 4, 1.0, "stop", "e", "m").prompt_tokens_per_s is None


def test_both_engines_time_the_first_token(tiny_engine):
    params = GenerationParams(max_new_tokens=6)
    done = tiny_engine.generate("The quick brown", params)  # no stream: a clock of its own
    assert done.time_to_first_token_s is not None and 0 < done.time_to_first_token_s < done.latency_s
    stream = tiny_engine.stream("The quick brown", params)
    text = "".join(stream)
    streamed = stream.completion
    assert streamed.text == text and streamed.time_to_first_token_s < streamed.latency_s
    if streamed.completion_tokens >= 2:
        assert streamed.decode_tokens_per_s > streamed.tokens_per_s


def test_cli_prints_decoding_and_prompt_speeds_apart(tiny_model_dir, capsys):
    main(["generate", "The quick brown", "--model", str(tiny_model_dir), "--dtype", "float32",
          "--max-new-tokens", "5", "--no-history"])
    err = capsys.readouterr().err
    assert "decoding " in err and "prompt " in err and "tok/s" in err and "first token" in err
    main(["generate", "The quick", "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--json",
          "--no-history"])
    record = json.loads(capsys.readouterr().out)
    assert "decode_tokens_per_s" in record and record["prompt_tokens_per_s"] > 0


def test_cli_history_lists_the_decoding_speed_where_it_was_kept(capsys):
    record_generation("p", GenerationParams(), Completion("a b c", 10, 3, 2.0, "stop", "e", "m", 1.8))
    record_generation("q", GenerationParams(), Completion("old", 10, 3, 2.0, "stop", "e", "m"))
    main(["history"])
    lines = capsys.readouterr().out.splitlines()
    assert "10.0 tok/s decoding" in lines[1] and "tok/s" not in lines[0]


# -- labels in the forms the model writes ---------------------------------


class FormsEngine:
    """Scores as SmolLM2 did in the issue: ' Mixed' likely, ' MIXED' (the task's form) not."""

    LOGPROBS = {" POSITIVE": -1.0, " NEGATIVE": -3.0, " MIXED": -4.0, " Mixed": -0.2,
                " mixed": -2.5, " Positive": -2.2, " positive": -4.0, " Negative": -4.0,
                " negative": -5.0, "Mixed": -0.1, "MIXED": -3.0, "POSITIVE": -2.0,
                "NEGATIVE": -3.0, "Positive": -4.0, "Negative": -4.0, "mixed": -5.0,
                "positive": -5.0, "negative": -5.0}

    def __init__(self):
        self.asked: list[list[str]] = []

    def score_batch(self, prompts, candidates, batch_size=16):
        self.asked.append(list(candidates))
        return [normalise(list(candidates), [self.LOGPROBS[c] for c in candidates],
                          [1] * len(candidates)) for _ in prompts]


def test_labels_are_scored_in_every_form_the_model_may_write():
    labels = ("POSITIVE", "NEGATIVE", "MIXED")
    engine = FormsEngine()
    as_written = engine.score_batch(["Sentiment:"], [" " + lab for lab in labels])[0]
    assert max(as_written, key=lambda s: s.probability).candidate == " POSITIVE"  # the old panel
    scores = score_labels(engine, ["Review: ok\nSentiment:"], labels)[0]
    assert [s.label for s in scores] == list(labels)
    best = max(scores, key=lambda s: s.probability)
    assert best.label == "MIXED" and best.likeliest_form == " Mixed"
    assert sum(s.probability for s in scores) == pytest.approx(1.0)
    assert set(engine.asked[-1]) == {f for lab in labels for f in label_forms(lab)}


def test_the_answer_prefix_follows_the_prompt():
    assert label_forms("MIXED") == (" MIXED", " Mixed", " mixed")
    assert label_forms("not spam", "") == ("not spam", "Not spam", "NOT SPAM")
    assert answer_prefix("Sentiment:") == " " and answer_prefix("<start_of_turn>model\n") == ""
    engine = FormsEngine()
    score_labels(engine, ["Assistant:\n"], ("POSITIVE", "MIXED"))
    assert "Mixed" in engine.asked[-1] and " Mixed" not in engine.asked[-1]


@pytest.mark.integration
def test_real_model_label_scores_sum_to_one_and_name_each_form(gemma_engine):
    prompt = "Review: It broke on day two and support never answered.\nSentiment:"
    scores = score_labels(gemma_engine, [prompt], ("POSITIVE", "NEGATIVE", "MIXED"))[0]
    assert sum(s.probability for s in scores) == pytest.approx(1.0, abs=1e-6)
    assert all(isinstance(f, CandidateScore) and f.candidate.startswith(" ")
               for s in scores for f in s.forms)


# -- reference answers -----------------------------------------------------


def test_the_react_sample_question_has_its_reference_and_a_wrong_answer_is_wrong():
    reference = find_reference("What is 17 * 23 + 348 / 12?", tasks_of(("numeric", "qa")))
    assert reference is not None and reference.answer == "420" and reference.task == "shop-math"
    assert judge(reference, "136068").outcome == "wrong"
    assert judge(reference, "420").right and judge(reference, "The total is 420.").right
    assert judge(reference, None).outcome == "no answer"
    unworked = judge(reference, "17 * 23 + 348")  # what the embedded Gemma finished with
    assert unworked.outcome == "wrong" and "not one number" in unworked.detail
    assert judge(reference, "391 + 29 = 420").right


def test_a_rag_answer_with_the_wrong_price_is_wrong():
    reference = find_reference("how much does the Karsk 2P tent cost and how much does it weigh?",
                               tasks_of(("qa",), "lumen-outfitters"))
    assert reference.answer == "€349, 2,140 g"
    assert judge(reference, "€279 [1]").outcome == "wrong"
    assert judge(reference, "It costs €349 and weighs 2,140 g [1]").right
    assert judge(reference, "€349 [1]").outcome == "partly"


def test_classification_and_json_references():
    review = "Rice comes out perfect every time, but the inner pot scratches easily and the lid hinge snapped off last week."
    reference = find_reference(review, ["review-sentiment"])
    assert reference.answer == "MIXED" and reference.split == "test"
    assert judge(reference, " Mixed.").right and judge(reference, "POSITIVE").outcome == "wrong"
    assert judge(reference, '{"label": "MIXED"}').right
    event = find_reference("Choir rehearsal moved to the 4th of May 2027, half past seven in the "
                           "evening, at the Methodist hall in Derby. We sing pieces 3, 7 and 11.",
                           ["event-extraction"])
    right = json.loads(event.answer)
    assert judge(event, json.dumps(right)).right
    verdict = judge(event, json.dumps({**right, "city": "Derb"}))
    assert verdict.outcome == "partly" and "city" in verdict.detail
    assert find_reference("a review nobody wrote", ["review-sentiment"]) is None


# -- History keeps the setup ----------------------------------------------


OLD_SCHEMA = """CREATE TABLE generations (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
model TEXT NOT NULL, engine TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'ui', prompt TEXT NOT NULL,
params TEXT NOT NULL, output TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
completion_tokens INTEGER NOT NULL, latency_s REAL NOT NULL, tokens_per_s REAL NOT NULL,
finish_reason TEXT NOT NULL);"""


def test_an_old_history_database_gains_the_new_columns_and_keeps_its_rows():
    path = history_db_path()
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO generations (created_at, model, engine, source, prompt, params, "
                     "output, prompt_tokens, completion_tokens, latency_s, tokens_per_s, "
                     "finish_reason) VALUES ('2026-01-01T00:00:00+00:00', 'm', 'e', 'ui', 'old "
                     "prompt', '{}', 'old answer', 3, 2, 1.0, 2.0, 'stop')")
    old = list_generations()[0]
    assert old.output == "old answer" and old.setup is None and old.decode_tokens_per_s is None
    setup = {"technique": "Structured output", "task": "event-extraction",
             "fields": {"play_schema": "{}", "play_constrained": False}}
    done = Completion("{}", 10, 3, 2.0, "stop", "llama.cpp", "m", time_to_first_token_s=1.8)
    new_id = record_generation("new prompt", GenerationParams(), done, setup=setup)
    entry = get_generation(new_id)
    assert entry.setup == setup and entry.decode_tokens_per_s == pytest.approx(10.0)
    rows = list(csv.DictReader(io.StringIO(export_history(list_generations(), "csv"))))
    assert json.loads(rows[0]["setup"])["technique"] == "Structured output" and rows[1]["setup"] == ""
    list_generations()  # a second connection finds the columns there and adds nothing
    assert ModelSpec  # imported for the page tests' setups

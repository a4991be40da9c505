"""What the pages did beyond widgets, now in core (issue 17, thin pages): one path from a
prompt to a kept answer (the Playground and the CLI), adding documents to a collection, the
few-shot builder's hold-out, and what the Playground shows as a saved setup."""

from __future__ import annotations

import json

import pytest

from core import answers
from core.answers import answer_prompt, read_answer
from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError, LabError
from core.fewshot import hold_out
from core.generation import LabelScore
from core.history import list_generations
from core.prompting import Example
from core.reference import Reference

GREEDY = GenerationParams(max_new_tokens=4, temperature=0.0)
REVIEW = Reference("review-sentiment", "classification", "test", "7", "POSITIVE",
                   ("POSITIVE", "NEGATIVE", "MIXED"))


# -- one answer: generate, score, judge, record ------------------------------------------------

def test_an_answer_streams_is_scored_judged_and_kept_with_its_setup(tiny_engine):
    chunks = []
    answer = answer_prompt(tiny_engine, "Review: good\nSentiment:", GREEDY,
                           labels=REVIEW.labels, reading="scored", reference=REVIEW,
                           source="playground:Zero-shot", setup={"technique": "Zero-shot"},
                           on_chunk=chunks.append)
    assert "".join(chunks) == answer.completion.text
    assert [s.label for s in answer.scores] == list(REVIEW.labels)
    assert sum(s.probability for s in answer.scores) == pytest.approx(1.0, abs=1e-3)
    assert [what for what, _ in answer.readings] == ["The answer it wrote", "The scored prediction"]
    assert answer.readings[1][1] == answer.scored_label
    assert [what for what, _ in answer.verdicts] == ["The answer it wrote", "The scored prediction"]
    assert answer.verdicts[1][1].right == (answer.scored_label == "POSITIVE")
    saved = list_generations()[0]
    assert saved.id == answer.record_id and saved.output == answer.completion.text
    assert saved.source == "playground:Zero-shot" and saved.setup == {"technique": "Zero-shot"}


def test_an_answer_not_streamed_and_not_kept_leaves_the_history_empty(tiny_engine):
    answer = answer_prompt(tiny_engine, "Once upon a time", GREEDY, record=False, source="cli")
    assert answer.record_id is None and answer.record_error is None
    assert answer.scores == () and answer.verdicts == ()
    assert list_generations() == []


def test_a_history_that_cannot_be_written_costs_the_record_not_the_answer(tiny_engine,
                                                                          monkeypatch):
    def broken(*args, **kwargs):
        raise LabError("Could not save the answer in the history database: disk full",
                       "Free some space.")

    monkeypatch.setattr(answers, "record_generation", broken)
    answer = answer_prompt(tiny_engine, "Once upon a time", GREEDY, source="cli")
    assert answer.completion.completion_tokens > 0
    assert answer.record_id is None and "disk full" in answer.record_error.problem


def test_an_unknown_reading_is_named_before_anything_is_generated(tiny_engine):
    with pytest.raises(ConfigError, match="Unknown way to read an answer: 'guess'"):
        answer_prompt(tiny_engine, "x", GREEDY, reading="guess")
    assert list_generations() == []


def test_readings_of_a_reasoning_a_scored_answer_and_an_empty_one():
    numeric = Reference("shop-math", "numeric", "test", "1", "42")
    assert read_answer("6 times 7 is 42.\nAnswer: 42", "reasoning", (), (), numeric) == \
        (("The extracted answer", "42"),)
    scores = (LabelScore("POSITIVE", 0.2, ()), LabelScore("NEGATIVE", 0.8, ()))
    assert read_answer("POSITIVE", "scored", ("POSITIVE", "NEGATIVE"), scores)[1] == \
        ("The scored prediction", "NEGATIVE")
    assert read_answer("  ", "plain") == ()  # nothing written, nothing to judge it by
    assert read_answer("  ", "plain", reference=numeric) == (("The answer", "  "),)


def test_the_cli_generate_goes_through_the_same_path(tiny_model_dir, capsys):
    from core.cli import main

    assert main(["generate", "Once upon a time", "--model", str(tiny_model_dir),
                 "--dtype", "float32", "--max-new-tokens", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = list_generations()[0]
    assert saved.source == "cli" and saved.output == printed["completion"]


# -- the few-shot builder's hold-out -----------------------------------------------------------

def _pool(n: int) -> list[Example]:
    return [Example(f"text {i}", "A" if i % 2 else "B") for i in range(n)]


def test_without_a_task_the_last_rows_are_held_out_of_the_pool():
    pool, validation, note = hold_out(_pool(40), 10)
    assert [e.input for e in validation] == [f"text {i}" for i in range(30, 40)]
    assert len(pool) == 30 and not set(e.input for e in pool) & set(e.input for e in validation)
    assert note is None


def test_with_a_task_its_validation_split_is_held_out_and_the_table_stays_the_pool():
    from core.tasks import load_task

    pool, validation, note = hold_out(_pool(12), 5, "review-sentiment")
    assert len(pool) == 12 and note is None
    assert validation == load_task("review-sentiment").examples("validation", limit=5)
    _, everything, note = hold_out(_pool(12), 10_000, "review-sentiment")
    assert note == (f"The validation split of review-sentiment has {len(everything)} examples: "
                    "all are used.")


def test_a_table_too_small_to_hold_out_is_refused_with_a_fix():
    with pytest.raises(ConfigError, match="too few to measure") as caught:
        hold_out(_pool(4), 10)
    assert "Load more examples" in caught.value.fix


# -- adding documents to a collection ------------------------------------------------------------

@pytest.mark.integration
def test_documents_are_added_replaced_and_unreadable_ones_skipped_and_named():
    from core.knowledge import add_documents, document_texts, search

    first = add_documents("notes", [("tents.md", b"# Tents\nThe Karsk tent weighs 2 kg."),
                                    ("broken.pdf", b"not a pdf at all")])
    assert first.info is not None and first.added == ("tents.md",) and first.replaced == ()
    assert len(first.skipped) == 1 and "broken.pdf" in first.skipped[0].problem
    second = add_documents("notes", [("tents.md", b"# Tents\nThe Karsk tent weighs 3 kg."),
                                     ("stoves.txt", b"The Brisa stove boils a litre in 4 min.")])
    assert second.replaced == ("tents.md",) and list(second.info.documents) == ["stoves.txt", "tents.md"]
    assert "3 kg" in document_texts("notes")["tents.md"]
    assert search("notes", "How heavy is the tent?", k=1)[0].chunk.doc == "tents.md"


def test_nothing_readable_leaves_no_collection_and_says_why():
    from core.knowledge import add_documents, list_collections

    done = add_documents("empty", [("broken.pdf", b"not a pdf at all")])
    assert done.info is None and len(done.skipped) == 1
    assert "empty" not in list_collections()


def test_a_bad_collection_name_or_two_files_of_one_name_are_refused_first():
    from core.knowledge import add_documents

    with pytest.raises(ConfigError, match="not a usable collection name"):
        add_documents("../up", [("a.txt", b"text")])
    with pytest.raises(ConfigError):
        add_documents("notes", [("a/x.txt", b"one"), ("b/x.txt", b"two")])


# -- what the Playground shows, as a setup --------------------------------------------------------

def _view(technique: str, **fields):
    from core.playground import PlaygroundView

    return PlaygroundView(technique, fields.pop("model", ModelSpec(threads=1, dtype="float32")),
                          **fields)


def test_each_technique_becomes_the_setup_that_answers_the_same_way():
    from core.playground import setup_of

    few = setup_of("four", _view("Few-shot", fewshot_set="reviews-4", k=4))
    assert few.prompt.technique == "few-shot" and few.prompt.fewshot_set == "reviews-4"
    assert few.prompt.shots == 4 and few.model.threads == 1 and few.model.dtype == "float32"
    system = setup_of("sys", _view("System prompt", system="Answer in one word."))
    assert system.prompt.technique == "zero-shot" and system.prompt.system == "Answer in one word."
    free = setup_of("json", _view("Structured output", constrained=False))
    assert free.prompt.technique == "structured" and free.prompt.constrained is False
    rag = setup_of("rag", _view("RAG", collection="handbook", top_k=5))
    assert rag.retrieval.collection == "handbook" and rag.retrieval.top_k == 5
    react = setup_of("react", _view("ReAct", collection="handbook", max_steps=7))
    assert react.prompt.technique == "react" and react.prompt.max_steps == 7
    assert react.retrieval.collection == "handbook"
    # the system text of another technique is not carried into a setup that would not use it
    assert setup_of("cot", _view("Chain-of-thought", system="ignored")).prompt.system == ""


def test_free_text_and_a_foreign_adapter_are_refused_with_what_to_do(tmp_path):
    from core.playground import setup_of

    with pytest.raises(ConfigError, match="Free text has no technique") as caught:
        _view("Free text")
    assert "Pick a technique" in caught.value.fix
    elsewhere = ModelSpec(adapter=str(tmp_path / "my-adapter"))
    with pytest.raises(ConfigError, match="not a training run of this lab"):
        setup_of("x", _view("Zero-shot", model=elsewhere))


def test_a_saved_setup_loads_back_and_a_taken_or_bad_name_is_refused():
    from core.playground import save_playground_setup
    from core.setups import load_setup

    saved = save_playground_setup("tuned four", _view("Few-shot", fewshot_set="s", k=2))
    assert load_setup("tuned four") == saved
    with pytest.raises(ConfigError, match="is saved already") as caught:
        save_playground_setup("tuned four", _view("Zero-shot"))
    assert "Replace it" in caught.value.fix
    assert load_setup("tuned four").prompt.technique == "few-shot"  # nothing was overwritten
    replaced = save_playground_setup("tuned four", _view("Zero-shot"), replace=True)
    assert load_setup("tuned four") == replaced
    for bad in ("", "   ", "a/b", "../x"):
        with pytest.raises(ConfigError):
            save_playground_setup(bad, _view("Zero-shot"))


def test_a_saved_setup_shows_in_the_playground_as_it_was_saved():
    from core.playground import setup_of, view_of

    for technique, fields in (("Few-shot", {"fewshot_set": "reviews-4", "k": 2}),
                              ("System prompt", {"system": "One word."}),
                              ("Structured output", {"constrained": False}),
                              ("RAG", {"collection": "handbook", "top_k": 5}),
                              ("ReAct", {"collection": "handbook", "max_steps": 7}),
                              ("Chain-of-thought", {}), ("Zero-shot", {})):
        setup = setup_of("s", _view(technique, **fields))
        view, notes = view_of(setup)
        assert view.technique == technique and notes == []
        assert setup_of("s", view) == setup


def test_what_the_playground_cannot_show_of_a_setup_is_said():
    from core.playground import view_of
    from core.setups import ModelChoice, PromptChoice, Setup

    drawn = Setup("drawn", ModelChoice(run_id="no-such-run"), PromptChoice("few-shot", shots=4))
    view, notes = view_of(drawn)
    assert view.technique == "Few-shot" and view.model.adapter is None
    assert any("train split" in n for n in notes)
    assert any("base model" in n for n in notes)  # the run cannot serve: its base is used

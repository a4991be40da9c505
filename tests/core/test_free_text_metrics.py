"""Free-text tasks (kind "text", issue 19): chrF, ROUGE-L and MiniLM similarity with intervals,
chrF as the per-example score, and replies given room to finish.

The user's task is made with core.task_builder from a CSV written here (conftest's
``lab_home`` gives each test its own lab folder).
"""

from __future__ import annotations

import pytest

from core import compare_scores
from core.compare import CompareConfig, VariantSpec, evaluate
from core.compare_scores import PRIMARY, free_text_metrics, score_outputs, similarity_note
from core.embeddings import embeddings_available
from core.metrics import chrf
from core.paired import paired_differences
from core.prompting import PromptRecipe, build_prompt
from core.report import html_report
from core.report_charts import metric_label, metric_names, metric_words, primary_metric
from core.setup_eval import Outputs, answer_params
from core.setups import PromptChoice, Setup
from core.tasks import load_task
from tests.core.test_user_tasks import make, write_csv

TEMPLATE = "Message: {message}\nReply:"
ISSUES = ["my parcel is late", "I was charged twice", "the zip on my jacket broke",
          "I want to return a tent", "my order arrived without the poles"]
needs_minilm = pytest.mark.skipif(not embeddings_available(), reason="MiniLM not installed")


def support_rows(n: int = 30) -> list[dict]:
    """Customer messages and house-style replies (the task the sample support-reply mimics)."""
    rows = []
    for i in range(n):
        issue = ISSUES[i % len(ISSUES)]
        rows.append({"message": f"Hello, {issue} (order {1000 + i}). What now?",
                     "reply": f"Thanks for writing about order {1000 + i}. We are sorry that "
                              f"{issue.replace('my', 'your').replace('I ', 'you ')}; a "
                              "colleague will sort it out within two days. Lumen Support"})
    return rows


@pytest.fixture
def replies(tmp_path):
    return make("replies", write_csv(tmp_path / "replies.csv", support_rows()), kind="text",
                input_column="message", label_column="reply", template=TEMPLATE,
                instruction="Write the support team's reply to the customer's message.")


REF = "Thanks for writing about order 1004. A colleague will sort it out within two days."


def test_chrf_is_one_for_the_reference_and_low_for_an_unrelated_answer():
    assert chrf(REF, REF) == pytest.approx(1.0)
    assert chrf("Paris is the capital of France.", REF) < 0.15
    said_otherwise = "Thank you for writing about order 1004: someone will sort it within 2 days."
    assert 0.4 < chrf(said_otherwise, REF) < 1.0  # other words, the same reply: partly right
    assert chrf("", REF) == 0.0


def test_each_free_text_metric_has_an_interval_around_its_value():
    refs = [REF, "We have refunded the second charge.", "A new zip is on its way to you."] * 4
    preds = [REF, "We refunded the charge.", "The weather is fine."] * 4
    metrics = free_text_metrics(refs, preds, seed=0)
    expected = {"chrf", "rouge_l"} | ({"similarity"} if similarity_note() is None else set())
    assert set(metrics) == expected
    for m in metrics.values():
        assert m["low"] <= m["value"] <= m["high"] and m["low"] < m["high"]
    assert 0.3 < metrics["chrf"]["value"] < 0.9


@needs_minilm
def test_similarity_sees_a_reply_in_other_words_and_gives_an_empty_answer_nothing():
    refs = [REF] * 3
    preds = ["Thank you for your message on order 1004; we will fix it in 2 days.",
             "The capital of France is Paris.", ""]
    close, unrelated, empty = compare_scores.similarities(preds, refs)
    assert close > 0.6 > unrelated and empty == 0.0


def test_without_minilm_similarity_is_absent_and_the_results_say_why(monkeypatch, replies):
    monkeypatch.setattr(compare_scores, "embeddings_available", lambda: False)
    metrics = free_text_metrics([REF] * 5, [REF, "no", "", REF, "a colleague"], seed=0)
    assert "similarity" not in metrics and "chrf" in metrics
    [note] = compare_scores.metric_notes(load_task("replies").kind)
    assert "Similarity (MiniLM) is not measured" in note and "./lab.sh setup" in note
    assert compare_scores.metric_notes("qa") == []


def test_a_text_task_ranks_by_chrf_and_qa_keeps_its_metrics(replies):
    assert PRIMARY["text"] == "chrf" and PRIMARY["qa"] == "token_f1"
    examples = [{"reference": REF}, {"reference": "We refunded you."}]
    out = Outputs(predictions=[REF, "Nothing here."], raw=["", ""])
    metrics, confusion, _ = score_outputs(replies, examples, out, seed=0)
    assert {"chrf", "rouge_l"} <= set(metrics) and "token_f1" not in metrics and confusion is None
    assert compare_scores.example_scores(replies, examples, out, [True, False])[0] == 1.0
    qa_metrics, _, _ = score_outputs(load_task("handbook-qa"), examples, out, seed=0)
    assert set(qa_metrics) == {"exact_match", "token_f1", "rouge_l", "contains"}
    assert [metric_label(m) for m in ("chrf", "rouge_l", "similarity")] == \
        ["chrF", "ROUGE-L", "Similarity (MiniLM)"]
    assert metric_words("chrf") == "chrF" and metric_words("similarity") == "similarity (MiniLM)"


def test_a_text_reply_gets_room_for_three_sentences_and_survives_a_line_break(replies):
    base, tuned = Setup("base", prompt=PromptChoice("zero-shot")), \
        Setup("tuned", model=_tuned_choice())
    built = build_prompt(PromptRecipe("zero-shot", replies.instruction, replies.prompt_template),
                         "my parcel is late")
    for setup in (base, tuned):
        params, read = answer_params(replies, setup, built)
        assert params.max_new_tokens >= 128
        assert "\n" not in params.stop  # only a blank line or the next "Message:" ends it
        assert read("Thanks for writing.\nA colleague will help.\n") == \
            "Thanks for writing.\nA colleague will help."
    qa_params, _ = answer_params(load_task("handbook-qa"), base, built)
    assert qa_params.max_new_tokens == 32  # short answers keep their short budget


def _tuned_choice():
    from core.setups import ModelChoice

    return ModelChoice(run_id="some-run")


def test_a_text_comparison_gives_chrf_rouge_and_similarity_with_per_example_scores(
        replies, tiny_long_model_dir):
    setups = (VariantSpec("zero-shot", "zero-shot"), VariantSpec("few-shot-2", "few-shot", shots=2))
    results = evaluate(CompareConfig("replies", setups, 5, model=str(tiny_long_model_dir),
                                     engine="transformers"))
    assert [v["error"] for v in results["variants"]] == [None, None]
    expected = ["chrf", "rouge_l"] + (["similarity"] if similarity_note() is None else [])
    assert metric_names(results) == expected and primary_metric(results) == "chrf"
    for variant in results["variants"]:
        for m in expected:
            metric = variant["metrics"][m]
            assert metric["low"] <= metric["value"] <= metric["high"]
        # random weights never stop early: the answers ran past the old 32-token budget
        assert variant["completion_tokens_mean"] > 32
    for example in results["examples"]:
        for name, output in example["outputs"].items():
            assert output["score"] == round(chrf(output["prediction"], example["reference"]), 4)
    [pair] = paired_differences(results)
    assert pair["n"] == 5
    page = html_report(results)
    assert "chrF" in page and "ROUGE-L" in page

"""The Compare page's Review tab under AppTest: a blind review of a finished comparison by two
named reviewers (the same pairs, in the same order), Back, the summary in the tab and in
Results, ratings files imported (once; refused with the fix), and the judge's expander."""

from __future__ import annotations

import copy
import json

import pytest

from core.config import ModelSpec
from core.review import build_pairs
from core.review_store import add_vote, ratings
from tests.pages.test_compare_page import save_finished
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

CMP = "pages/7_Compare.py"
SETUPS = ("zero-shot", "few-shot-4", "lora-live-demo")  # the fixture's three that answered


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


@pytest.fixture
def finished() -> dict:
    """A finished comparison with 24 examples whose answers differ and never name their setup."""
    from tests.core.test_report import results as results_fixture

    results = results_fixture.__wrapped__()
    base = results["examples"]
    examples = []
    for i in range(24):
        example = copy.deepcopy(base[i % len(base)])
        example.update(id=f"ex-{i:03d}", input=f"Message {i}: {example['input']}")
        for k, output in enumerate(example["outputs"].values()):
            output["prediction"] = f"Reply {i}.{k}"
        examples.append(example)
    results["examples"] = examples
    save_finished(results)
    return results


def _progress(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def _review(at):
    return next(t for t in at.tabs if t.label == "Review")


def _card_input(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Message "))


def _vote(at, vote: str):
    return at.button(key=f"cmp_rv_vote_{vote}").click().run()


def test_two_reviewers_rate_the_same_blind_pairs_and_see_win_rates_and_kappa(tiny, finished):
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert at.multiselect(key="cmp_rv_setups").value == list(SETUPS)  # all that answered
    assert any("Type your name" in i.value for i in at.info)
    at.text_input(key="cmp_rv_name").set_value("Dana").run()
    assert "0 of 20 rated by Dana" in _progress(at)
    pairs = build_pairs(finished, list(SETUPS), 20, seed=0)
    assert _card_input(at).startswith(pairs[0].input.split(":")[0])
    card = " ".join(m.value for m in _review(at).markdown)
    assert "Answer A" in card and "Answer B" in card
    for name in SETUPS:  # blind: the card never names a setup
        assert name not in card, name
    assert at.button(key="cmp_rv_vote_A").proto.shortcut.upper() == "A"
    assert at.button(key="cmp_rv_back").disabled  # nothing to undo yet
    for vote in ["A", "B", "tie", "both_bad", "A", "A", "B"]:
        at = _vote(at, vote)
    assert not at.exception, at.exception
    assert "7 of 20 rated by Dana" in _progress(at)
    at.button(key="cmp_rv_back").click().run()  # undo: the 7th pair shows again
    assert "6 of 20 rated by Dana" in _progress(at)
    assert _card_input(at).startswith(pairs[6].input.split(":")[0])
    for i in range(6, 20):
        at = _vote(at, "A" if i % 3 else "B")
    assert "20 of 20 rated by Dana" in _progress(at)
    assert any("All 20 pairs rated by Dana" in s.value for s in at.success)

    at.text_input(key="cmp_rv_name").set_value("Lee").run()  # a second reviewer, same pairs
    assert "0 of 20 rated by Lee" in _progress(at)
    assert _card_input(at).startswith(pairs[0].input.split(":")[0])
    for pair in pairs[:19]:  # the rest as if rated: the same view a click gives
        add_vote(finished["id"], pair, "Lee", "A")
    at = _vote(at.run(), "B")
    assert any("All 20 pairs rated by Lee" in s.value for s in at.success)
    text = _text(at)
    assert "40 votes on 20 pairs by Dana (20), Lee (20)" in text
    assert "kappa" in text.lower()
    assert "Dana and Lee" in at.dataframe[-1].value["Between"].tolist()
    # the Results tab: the same summary after the paired differences; the report carries it
    assert "Reviews by people" in [h.value for h in at.subheader]
    assert len({r.reviewer for r in ratings(finished["id"])}) == 2


def test_the_offline_report_and_my_ratings_download_once_there_are_votes(tiny, finished):
    at = _page(CMP, tiny)
    at.multiselect(key="cmp_rv_setups").set_value(["zero-shot"]).run()  # one setup: no pairs
    assert any("Fix:" in e.value for e in at.error), _text(at)
    assert "cmp_rv_report" not in [b.key for b in at.get("download_button")]
    at.multiselect(key="cmp_rv_setups").set_value(["zero-shot", "few-shot-4"]).run()
    assert at.download_button(key="cmp_rv_mine").disabled
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Report with a blind review (HTML, works offline)" in labels
    at.text_input(key="cmp_rv_name").set_value("Dana").run()
    at = _vote(at, "tie")
    assert not at.download_button(key="cmp_rv_mine").disabled


def _ratings_file(results: dict, reviewer: str, votes: dict[str, str], comparison=None) -> bytes:
    return json.dumps({"format": "prompttune-lab-ratings", "version": 1,
                       "comparison": comparison or results["id"], "pack": "0" * 12,
                       "reviewer": reviewer,
                       "ratings": [{"pair": p, "vote": v, "at": "2026-12-01T10:00:00+00:00"}
                                   for p, v in votes.items()]}).encode()


def _uploader(at):
    """The ratings uploader (its key changes after each import, so it starts empty again)."""
    return next(u for u in at.file_uploader if u.label == "Import a ratings file")


def test_a_ratings_file_counts_once_and_a_bad_one_is_refused_with_the_fix(tiny, finished):
    pairs = build_pairs(finished, list(SETUPS), 20, seed=0)
    good = _ratings_file(finished, "Sam", {p.id: "A" for p in pairs[:5]})
    at = _page(CMP, tiny)
    _uploader(at).set_value(("ratings-Sam.json", good, "application/json"))
    at.run()
    assert any("Imported 5 votes by Sam" in s.value for s in at.success), _text(at)
    assert _uploader(at).value in (None, [])  # empty again: the same file can be chosen again
    at.run()  # a rerun imports nothing again and says the same
    assert any("Imported 5 votes by Sam" in s.value for s in at.success)
    _uploader(at).set_value(("again.json", good, "application/json"))
    at.run()
    assert any("already imported" in i.value for i in at.info)
    assert len(ratings(finished["id"])) == 5

    for data, said in [(b"{not json", "Fix:"),
                       (_ratings_file(finished, "Ann", {"ffffffffffff": "A"}), "Fix:"),
                       (_ratings_file(finished, "Ann", {pairs[0].id: "A"}, "20990101-other"),
                        "20990101-other")]:
        _uploader(at).set_value(("bad.json", data, "application/json"))
        at.run()
        assert not at.exception, at.exception
        assert any(said in e.value for e in at.error), _text(at)
    assert len(ratings(finished["id"])) == 5  # the refused files lost nothing already there


def test_the_judge_shows_its_exact_prompt_and_names_a_missing_placeholder(tiny, finished):
    at = _page(CMP, tiny)
    assert any(e.label.startswith("Ask a model to judge") for e in at.expander)
    pairs = build_pairs(finished, list(SETUPS), 20, seed=0)
    shown = " ".join(c.value for c in at.code)
    assert pairs[0].answer_a in shown and pairs[0].answer_b in shown
    at.text_area(key="cmp_judge_prompt").set_value("Which is better? {input} {answer_a}").run()
    assert any("answer_b" in e.value for e in at.error), _text(at)
    assert at.text_area(key="cmp_judge_prompt").value == "Which is better? {input} {answer_a}"


def test_judge_verdicts_stand_beside_peoples_votes_with_how_far_to_trust_them(tiny, finished):
    pairs = build_pairs(finished, list(SETUPS), 20, seed=0)
    for pair in pairs[:3]:
        add_vote(finished["id"], pair, "judge: gemma-3-270m", "A", source="judge")
    at = _page(CMP, tiny)
    assert any("No person has rated these pairs yet" in w.value for w in at.warning)
    for pair in pairs[:3]:
        add_vote(finished["id"], pair, "Dana", "B")
    at.run()
    table = next(d.value for d in at.dataframe if "People" in d.value.columns)
    assert table["gemma-3-270m"].tolist() == ["A is better"] * 3
    assert table["People"].tolist() == ["Dana: B is better"] * 3
    assert any("very small model" in i.value for i in at.info), _text(at)


def test_a_free_text_task_offers_no_chain_of_thought():
    from core.tasks import load_task
    from ui.compare import variant_choices

    assert list(variant_choices(load_task("support-reply"))) == ["zero-shot", "few-shot 2",
                                                                 "few-shot 4"]


def test_the_judge_runs_on_the_picked_model_and_says_no_person_has_rated_yet(tiny, finished):
    at = _page(CMP, tiny)
    at.number_input(key="cmp_rv_n").set_value(3).run()
    at.button(key="cmp_judge_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    judged = [r for r in ratings(finished["id"]) if r.reviewer.startswith("judge: ")]
    assert len(judged) == 3 and {r.source for r in judged} == {"judge"}
    table = next(d.value for d in at.dataframe if "People" in d.value.columns)
    assert len(table) == 3 and set(table["People"]) == {""}
    assert set(table["Last run leans (order averaged)"]) <= {"A is better", "B is better", "Tie"}
    assert any("No person has rated these pairs yet" in w.value for w in at.warning)
    assert any("changed when the answers changed places" in c.value for c in at.caption)


def test_the_review_tab_and_results_show_the_same_comparison(tiny, finished):
    other = copy.deepcopy(finished)
    other["id"] = "20261126-090000-other"
    save_finished(other)
    at = _page(CMP, tiny)
    first = at.selectbox(key="cmp_selected").value
    assert at.selectbox(key="cmp_rv_pick").value == first
    second = next(i for i in (finished["id"], other["id"]) if i != first)
    at.selectbox(key="cmp_rv_pick").set_value(second).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cmp_selected").value == second
    assert at.selectbox(key="cmp_rv_pick").value == second

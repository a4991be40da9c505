"""The Review tab's judge: a model the user picks rates the same blind pairs, its prompt shown
and editable, and its verdicts set beside the people's votes with how far they agree, so the
user sees how far to trust it before trusting it. core.judge does the work."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.judge import (DEFAULT_PROMPT, JudgeConfig, agreement_words, bias_words, judge_prompt,
                        position_bias, run_judge)
from core.review import Pair
from core.review_store import ratings
from ui.controls import init_state, plain
from ui.engine import current_spec, show_error
from ui.model_picker import model_picker

WORDS = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}
JUDGED = "cmp_judge_said"  # what the last run said (verdicts kept in the database anyway)
LEANS = "cmp_judge_leans"  # the last run's leanings by pair id (this session's only)


def judge_section(results: dict, pairs: list[Pair]) -> None:
    """The judge's expander: model, prompt, the exact text for the first pair, Run, verdicts."""
    init_state({"cmp_judge_prompt": DEFAULT_PROMPT})
    with st.expander("Ask a model to judge (and see how far to trust it)"):
        st.caption("The model reads each pair blind, as people do, and picks A, B or a tie by "
                   "which answer it finds likelier (scored, not parsed); each pair is asked in "
                   "both orders, and an answer that flips with the order counts as a tie. Its "
                   "verdicts are set beside the people's votes on the same pairs.")
        spec = model_picker("cmp_judge", current_spec(), runtime=False, label="Judge model")
        st.text_area("The judge's prompt", key="cmp_judge_prompt", height=220,
                     help="{input}, {answer_a} and {answer_b} are filled in for each pair; "
                          "{reference} too where you keep it.")
        config = _config(spec)
        if config is None:
            return
        st.markdown("**The exact text the model sees for the first pair**")
        st.code(judge_prompt(config, pairs[0]), language=None, wrap_lines=True)
        if st.button("Run the judge", key="cmp_judge_run", type="primary"):
            _run(results["id"], pairs, config)
        _verdicts(results, pairs)


def _config(spec) -> JudgeConfig | None:
    """The judge's settings; None, with what to fix, while the model or prompt is not valid."""
    if spec is None:
        st.info("Pick a judge model (or type a Hub id or folder).")
        return None
    try:
        return JudgeConfig(model=spec, prompt=st.session_state["cmp_judge_prompt"])
    except LabError as exc:  # a placeholder missing: named, the prompt kept as typed
        show_error(exc)
        return None


def _run(comparison: str, pairs: list[Pair], config: JudgeConfig) -> None:
    """Load the model here (under a spinner) and judge every pair, with a progress bar."""
    from ui.compare import setup_engine  # the Compare page's engine shelf and load messages

    bar = st.progress(0.0, f"Judging {len(pairs)} pairs…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), f"Judged {done} of {total} pairs")

    try:
        engine = setup_engine(config.model)
        verdicts = run_judge(comparison, pairs, config, engine, progress=progress)
    except LabError as exc:
        show_error(exc)
        return
    bar.progress(1.0, f"Judged {len(verdicts)} pairs")
    st.session_state[JUDGED] = bias_words(position_bias(verdicts))
    # where it leans with the order averaged out: a hint of this run's, never a stored vote
    st.session_state[LEANS] = {v.pair: WORDS[v.lean] for v in verdicts if v.lean}


def _verdicts(results: dict, pairs: list[Pair]) -> None:
    """Every judge's verdicts beside the people's votes, pair by pair, and how far they agree."""
    table = verdict_table(results["id"], pairs, st.session_state.get(LEANS) or {})
    if table is None:
        st.caption("No judge has rated these pairs yet.")
        return
    st.dataframe(table, hide_index=True, width="stretch")
    if st.session_state.get(JUDGED):  # the last run's position bias (this session's)
        st.caption(plain(st.session_state[JUDGED]) + " *Last run leans*: the answer it finds "
                   "likelier with the order averaged out, a hint only: where the order "
                   "decided, the vote kept is a tie.")
    if (table["People"] == "").all():
        st.warning("No person has rated these pairs yet, so there is nothing to check the "
                   "judge against: rate some above (or import a ratings file), and how often it "
                   "agrees with people shows here.")
        return
    from ui.review import review_summary  # ui.review draws this section: imported here, not above

    for judge in (review_summary(results) or {}).get("judges") or []:
        name = judge["judge"].removeprefix("judge: ")
        st.info(f"**{plain(name)}**: " + plain(agreement_words(judge["kappa_vs_people"],
                                                                judge["n"], name)))


def verdict_table(comparison: str, pairs: list[Pair],
                  leans: dict[str, str] | None = None) -> pd.DataFrame | None:
    """Pair by pair (in the reviewers' order): each judge's verdict (and, from the last run,
    where it leans with the answers' order averaged out), then the people's votes; None when
    no judge has rated any of them."""
    order = {p.id: i for i, p in enumerate(pairs)}
    votes: dict[str, dict[str, str]] = {}
    for rating in ratings(comparison):
        if rating.pair in order:
            votes.setdefault(rating.pair, {})[rating.reviewer] = WORDS.get(rating.vote, rating.vote)
    judges = sorted({name for said in votes.values() for name in said
                     if name.startswith("judge: ")})
    if not judges:
        return None
    rows = []
    for pair_id, said in sorted(votes.items(), key=lambda item: order[item[0]]):
        if not any(name in said for name in judges):
            continue
        row = {"Pair": order[pair_id] + 1}
        row.update({name.removeprefix("judge: "): said.get(name, "") for name in judges})
        if leans:
            row["Last run leans (order averaged)"] = leans.get(pair_id, "")
        row["People"] = "; ".join(f"{name}: {vote}" for name, vote in said.items()
                                  if not name.startswith("judge: "))
        rows.append(row)
    return pd.DataFrame(rows)

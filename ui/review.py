"""The Compare page's Review tab: a finished comparison reviewed blind, one pair of answers at a
time, by reviewers who give their names (each gets the same pairs in the same order); ratings
files in and out, the report that carries the review to people without the lab; and the
"Reviews by people" summary the Results tab shows. core.review* does the work; this draws it."""

from __future__ import annotations

import streamlit as st

from core.compare_runs import list_comparisons, load_results
from core.errors import LabError
from core.report import html_report
from core.review import Pair, build_pairs, identical_pairs, pack
from core.review_file import export_ratings, import_ratings, ratings_file_name
from core.review_stats import summary, summary_tables
from core.review_store import add_vote, rated_pairs, ratings, remove_vote
from ui.controls import plain
from ui.engine import show_error
from ui.review_judge import judge_section

# (vote, button, keyboard shortcut): the offline page's buttons and keys are the same
BUTTONS = (("A", "A is better", "A"), ("B", "B is better", "B"), ("tie", "Tie", "T"),
           ("both_bad", "Both bad", "X"))
REVIEW_SEED = 0  # one seed for everyone: a second reviewer gets the same pairs in the same order
PROBLEM = "cmp_rv_problem"  # a vote's error from a button callback, shown on the next run
FRACTIONS = ("Win rate", "Strength", "P(best)", "Same vote", "Kappa")  # shown to 2 decimals
IMPORTS = "cmp_rv_imports"  # (comparison, kind, problem, fix): what the last import said
UPLOADS = "cmp_rv_uploads"  # how many files were imported this visit: the uploader's key


def review_defaults() -> dict:
    """The Review tab's first widget values (the page keeps them, the reviewer's name too)."""
    return {"cmp_rv_pick": None, "cmp_rv_for": None, "cmp_rv_setups": [], "cmp_rv_n": 20,
            "cmp_rv_name": "", "cmp_rv_ref": False}


def review_tab() -> None:
    """The comparison and its setups, the reviewer, the blind pair, the files, the judge."""
    st.caption("Pairs of answers to the same input from two setups, side by side in random "
               "order with the setups' names hidden: say which is better. Several people can "
               "review, each under their own name; the summary names the setups.")
    results = _chosen_results()
    if results is None:
        return
    pairs = _chosen_pairs(results)
    if not pairs:
        return
    name = _reviewer()
    if name:
        _rate(results, pairs, name)
    _files(results, pairs, name)
    judge_section(results, pairs)


def _share_pick() -> None:
    """The Review tab's comparison is the Results tab's too (set before either is drawn)."""
    st.session_state["cmp_selected"] = st.session_state["cmp_rv_pick"]


def _chosen_results() -> dict | None:
    """The finished comparison to review (the one selected in Results where it is finished)."""
    finished = [c for c in list_comparisons() if c.status == "succeeded"]
    if not finished:
        st.info("No finished comparison to review yet: run one in the New comparison tab (a "
                "free-text task such as support-reply suits a review best).")
        return None
    ids = [c.id for c in finished]
    selected = st.session_state.get("cmp_selected")
    st.session_state["cmp_rv_pick"] = selected if selected in ids else ids[0]
    st.selectbox("Comparison", ids, key="cmp_rv_pick", on_change=_share_pick,
                 format_func=lambda i: next(f"{c.id} · {c.task} · {len(c.variants)} setups"
                                            for c in finished if c.id == i))
    try:
        return load_results(st.session_state["cmp_rv_pick"])
    except LabError as exc:  # deleted meanwhile, or its results damaged
        show_error(exc)
        return None


def _chosen_pairs(results: dict) -> list[Pair]:
    """Which setups and how many pairs; the pairs (the same for every reviewer)."""
    working = [v["name"] for v in results["variants"] if not v.get("error")]
    if len(working) < 2:
        st.info("This comparison has fewer than two setups that answered: a review compares "
                "two answers. Pick another comparison, or run one with two setups or more.")
        return []
    if st.session_state.get("cmp_rv_for") != results["id"]:  # another comparison: all its setups
        st.session_state["cmp_rv_for"] = results["id"]
        st.session_state["cmp_rv_setups"] = working
    left, right = st.columns([3, 1])
    setups = left.multiselect("Setups to review", working, key="cmp_rv_setups",
                              help="Two: one pair per example. More: every two of them on each "
                                   "example, and a ranking of all of them.")
    right.number_input("Pairs", 1, 2000, key="cmp_rv_n",
                       help="Drawn at random from all the pairs, the same for every reviewer.")
    try:
        pairs = build_pairs(results, list(setups), int(st.session_state["cmp_rv_n"]),
                            seed=REVIEW_SEED)
        same = identical_pairs(results, list(setups))
    except LabError as exc:  # fewer than two setups picked: says so, with the fix
        show_error(exc)
        return []
    left_out = f" ({same} left out: both answers the same word for word)" if same else ""
    st.caption(f"{len(pairs)} pairs{left_out}.")
    if not pairs:
        st.warning("Every pair of answers is identical: there is nothing to choose between. "
                   "Pick other setups.")
    return pairs


def _reviewer() -> str:
    """The reviewer's name, required (kept for the session); empty until a valid one is typed."""
    st.text_input("Your name", key="cmp_rv_name", max_chars=60,
                  help="Each reviewer's votes are kept apart under their name. Another reviewer "
                       "types their own name and gets the same pairs in the same order.")
    name = st.session_state["cmp_rv_name"].strip()
    if not name:
        st.info("Type your name to start rating: your votes are kept under it.")
    elif name.lower().startswith("judge:"):
        st.error("Names starting with \"judge:\" are kept for model judges. **Fix:** type a "
                 "person's name.")
        return ""
    return name


def _rate(results: dict, pairs: list[Pair], name: str) -> None:
    """Progress, then the next unrated pair and its buttons, or the summary when all are done."""
    comparison = results["id"]
    try:
        done = rated_pairs(comparison, name)
    except LabError as exc:
        show_error(exc)
        return
    count = sum(p.id in done for p in pairs)
    st.progress(count / len(pairs), f"{count} of {len(pairs)} rated by {plain(name)}")
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        show_error(LabError(*problem))
    current = next((i for i, p in enumerate(pairs) if p.id not in done), len(pairs))
    before = [p for p in pairs[:current] if p.id in done]
    previous = before[-1] if before else None
    if current == len(pairs):
        st.success(f"All {len(pairs)} pairs rated by {plain(name)}. Another reviewer types "
                   "their own name above and gets the same pairs in the same order.")
        _back_button(comparison, previous, name)
        review = review_summary(results)
        if review:
            show_review_summary(review)
        return
    _card(current, len(pairs), pairs[current])
    _vote_buttons(comparison, pairs[current], name, previous)


def _text(text) -> str:
    """An answer or input as typed (never Markdown), its line breaks kept."""
    return plain(str(text or "")).replace("\n", "  \n") if str(text or "").strip() else "*(empty)*"


def _card(index: int, total: int, pair: Pair) -> None:
    """The input (the reference behind a toggle) and the two answers, side by side, unnamed."""
    st.markdown(f"**Pair {index + 1} of {total}**")
    with st.container(border=True):
        st.markdown("**Input**")
        st.markdown(_text(pair.input))
        if pair.reference and st.toggle("Show the reference answer", key="cmp_rv_ref"):
            st.markdown("**Reference**")
            st.markdown(_text(pair.reference))
    for column, title, answer in zip(st.columns(2), ("Answer A", "Answer B"),
                                     (pair.answer_a, pair.answer_b)):
        with column.container(border=True):
            st.markdown(f"**{title}**")
            st.markdown(_text(answer))


def _vote(comparison: str, pair: Pair, name: str, vote: str) -> None:
    """Button callback: keep the vote (before the page is drawn again, so it moves on)."""
    try:
        add_vote(comparison, pair, name, vote, source="lab")
    except LabError as exc:
        st.session_state[PROBLEM] = (exc.problem, exc.fix)


def _undo(comparison: str, pair_id: str, name: str) -> None:
    """Back's callback: remove the vote on the pair before, which then shows again."""
    try:
        remove_vote(comparison, pair_id, name)
    except LabError as exc:
        st.session_state[PROBLEM] = (exc.problem, exc.fix)


def _vote_buttons(comparison: str, pair: Pair, name: str, previous: Pair | None) -> None:
    """The four votes (keys A, B, T, X) and Back (Backspace)."""
    columns = st.columns(5)
    for column, (vote, label, key) in zip(columns, BUTTONS):
        column.button(label, key=f"cmp_rv_vote_{vote}", shortcut=key, width="stretch",
                      help=f"Keyboard: {key}", on_click=_vote, args=(comparison, pair, name, vote),
                      type="primary" if vote in ("A", "B") else "secondary")
    with columns[4]:
        _back_button(comparison, previous, name)


def _back_button(comparison: str, previous: Pair | None, name: str) -> None:
    st.button("Back", key="cmp_rv_back", shortcut="Backspace", width="stretch",
              help="Undo the last vote (keyboard: Backspace)", disabled=previous is None,
              on_click=_undo, args=(comparison, previous.id if previous else "", name))


def _files(results: dict, pairs: list[Pair], name: str) -> None:
    """Reviewers without the lab: the report that carries the pairs, my ratings, an import."""
    st.subheader("Review without the lab")
    st.caption("The report below carries these pairs as a blind review: anyone opens it in a "
               "browser, from disk, with no lab and no network, rates there and saves a small "
               "ratings file; import that file here and its votes count like yours.")
    left, right = st.columns(2)
    offline = {"pack": pack(results, pairs), "summary": review_summary(results)}
    left.download_button("Report with a blind review (HTML, works offline)",
                         lambda: html_report(results, review=offline),
                         f"prompttune-review-{results['id']}.html", "text/html",
                         key="cmp_rv_report", type="primary")
    try:
        mine = export_ratings(results["id"], name) if name else None
    except LabError:  # no votes yet: nothing to download
        mine = None
    right.download_button("My ratings (JSON)", mine or b"",
                          ratings_file_name(results["id"], name or "reviewer"),
                          "application/json", key="cmp_rv_mine", disabled=not mine,
                          help="Your votes in the ratings file format: another lab imports them."
                          if mine else "Rate a pair first (with your name typed above).")
    _import_box(results["id"])


def _import_box(comparison: str) -> None:
    """A ratings file imported as soon as it is chosen; what it counted or why it was refused.

    After each import the uploader starts empty (a new key), so the same file can be chosen
    again in the same visit (and is then said to be counted once), and the page is drawn
    again so that the summary above already counts the new votes."""
    number = st.session_state.setdefault(UPLOADS, 0)
    upload = st.file_uploader("Import a ratings file", key=f"cmp_rv_upload_{number}",
                              help="The file the offline report's Save ratings file button "
                                   "writes (ratings-COMPARISON-NAME.json), or My ratings from "
                                   "another lab.")
    if upload is not None:
        try:
            result = import_ratings(comparison, upload.getvalue(), upload.name)
            said = ("info" if result.already_imported else "success", result.message, None)
        except LabError as exc:  # refused: nothing imported, the ratings already there stay
            said = ("error", exc.problem, exc.fix)
        st.session_state[IMPORTS] = (comparison, *said)
        st.session_state[UPLOADS] = number + 1
        st.rerun()
    shown = st.session_state.get(IMPORTS)
    if not shown or shown[0] != comparison:  # what an import into another comparison said
        return
    _, kind, problem, fix = shown
    if kind == "error":
        show_error(LabError(problem, fix))
    else:
        getattr(st, kind)(plain(problem))


@st.cache_data(max_entries=16, show_spinner=False)
def _summary(comparison: str, kept: tuple, _results: dict) -> dict:
    # a finished comparison never changes: its id and the votes say which summary this is
    # (its bootstrap takes about a second, and every vote redraws the page)
    return summary(_results, list(kept))


def review_summary(results: dict) -> dict | None:
    """The comparison's review summary (None when nobody, person or judge, has rated it)."""
    try:
        kept = ratings(results["id"])
    except LabError:
        return None
    return _summary(results["id"], tuple(kept), results) if kept else None


def people(review: dict) -> dict[str, int]:
    """The reviewers who are people (judges' names start with 'judge: ')."""
    return {name: n for name, n in review.get("reviewers", {}).items()
            if not name.startswith("judge: ")}


def show_review_summary(review: dict) -> None:
    """Win rates with intervals, the ranking, agreement between reviewers, and the judges."""
    who = people(review)
    st.caption(f"{review['votes']} votes on {review['pairs']} pairs by " + ", ".join(
        f"{plain(name)} ({n})" for name, n in who.items()) + ".")
    tables = summary_tables(review)
    for title in ("Win rates", "Ranking", "Agreement"):
        table = tables.get(title)
        if table is not None and not table.empty:
            st.markdown(f"**{title}**")
            st.dataframe(table, hide_index=True, width="stretch", column_config={
                c: st.column_config.NumberColumn(format="%.2f") for c in FRACTIONS})
    words = (review.get("agreement") or {}).get("words")
    if words:
        st.info(plain(words))
    for judge in review.get("judges") or []:
        st.caption(plain(judge["words"]))


def reviews_by_people(results: dict) -> dict | None:
    """The Results tab's section when people rated this comparison; the summary, for the
    report (None when no person has)."""
    review = review_summary(results)
    if not review or not people(review):
        return None
    st.subheader("Reviews by people")
    show_review_summary(review)
    return review

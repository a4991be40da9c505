"""Pages open each other through here, never by writing each other's widget keys.

A page that sends the user elsewhere says what the other page should show, in that page's
words (``open_page("playground", history_entry=12)``); the receiving page reads its request
once, in one place near its top (``arrival("playground")``), and sets its own widgets from
it. Renaming a widget of one page then breaks no other page.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

PAGES = {"home": "app.py", "tour": "pages/0_Tour.py", "playground": "pages/1_Playground.py",
         "history": "pages/2_History.py", "fewshot": "pages/3_Few-shot_builder.py",
         "knowledge": "pages/4_Knowledge.py", "train": "pages/5_Train.py",
         "runs": "pages/6_Runs.py", "compare": "pages/7_Compare.py", "tasks": "pages/8_Tasks.py",
         "advisor": "pages/9_Advisor.py"}
REQUESTS = "lab_page_requests"  # {page: what it was asked to show}, until that page reads it


def _check(page: str) -> str:
    if page not in PAGES:
        raise ValueError(f"Unknown page {page!r}: use one of {', '.join(PAGES)}")
    return PAGES[page]


def ask(page: str, **what: Any) -> None:
    """Ask ``page`` to show ``what`` the next time it is drawn (for a ``st.page_link``, or a
    page opened by the user later); a newer request replaces an older one."""
    _check(page)
    st.session_state.setdefault(REQUESTS, {})[page] = dict(what)


def open_page(page: str, **what: Any) -> None:
    """Open ``page`` now, showing ``what`` (the page's own words: a run id, a task, an entry)."""
    ask(page, **what)
    st.switch_page(_check(page))


def arrival(page: str) -> dict[str, Any]:
    """What ``page`` was asked to show, once (empty when nothing was asked). The page calls
    this in one place, before it draws the widgets the request sets."""
    _check(page)
    return st.session_state.get(REQUESTS, {}).pop(page, {})

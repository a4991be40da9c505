"""A name is text, not Markdown (issue 15): the Compare page's verdict once rendered a variant
named ``![v](http://127.0.0.1:PORT/x.png)`` as an image, and the browser fetched it. Here a
local listener records every request while real Chromium opens such a comparison's results
and a failed one whose problem quotes such a name; none may reach it."""

from __future__ import annotations

import copy
import http.server
import json
import threading

import pytest

from core.compare_runs import comparisons_dir
from tests.e2e.conftest import ARTIFACTS, _free_port, settled, start_lab
from tests.pages.test_compare_page import save_finished

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000


class _Listener(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 - the standard library's name
        self.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def listener():
    _Listener.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Listener.seen
    server.shutdown()


def _results(port: int) -> tuple[dict, str, str]:
    from tests.core.test_report import results as results_fixture

    image, link = f"![v](http://127.0.0.1:{port}/x.png)", f"[link](http://127.0.0.1:{port}/y)"
    results = copy.deepcopy(results_fixture.__wrapped__())
    renames = {"lora-live-demo": f"lora {image}", "lora-smollm": f"smollm {link}"}
    for variant in results["variants"] + results["config"]["variants"]:
        variant["name"] = renames.get(variant["name"], variant["name"])
    for example in results["examples"]:
        example["outputs"] = {renames.get(k, k): v for k, v in example["outputs"].items()}
    results["id"] = "20250101-000000-names"
    return results, image, link


def _viewport(page, name: str) -> None:
    """What the user sees now (Streamlit's main area scrolls inside the viewport)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _failed(results: dict, port: int) -> str:
    """The newest comparison (shown first): failed, its problem quoting a set's name."""
    problem = f"Few-shot set '![p](http://127.0.0.1:{port}/p.png)' answers MAYBE."
    folder = comparisons_dir() / "20250102-000000-failed"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(results["config"]))
    (folder / "status.json").write_text(json.dumps({"status": "failed", "problem": problem,
                                                    "fix": f"See [the set](http://127.0.0.1:{port}/f)."}))
    return problem


def test_names_on_the_compare_page_are_shown_as_typed_and_fetch_nothing(listener, browser, tmp_path):
    port, seen = listener
    results, image, link = _results(port)
    save_finished(results)
    _failed(results, port)
    lab_port = _free_port()
    server = start_lab(lab_port, tmp_path / "streamlit.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{lab_port}/Compare")
        page.get_by_role("tab", name="Results").click(timeout=LOAD)
        shown = page.get_by_text("This comparison failed: Few-shot set '![p](")
        shown.wait_for(timeout=LOAD)  # the characters as typed, not an image
        settled(page)
        shown.scroll_into_view_if_needed()
        _viewport(page, "outside-tester-compare-failed-name")
        page.get_by_role("combobox", name="Comparison").click()
        page.get_by_role("option", name="20250101-000000-names", exact=False).click()
        page.get_by_text("Verdict", exact=True).wait_for(timeout=LOAD)
        page.get_by_text("Per example").wait_for(timeout=LOAD)
        settled(page)
        verdict = page.get_by_text("the best setup was lora ![v](")
        verdict.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)  # time for any image the page would load
        _viewport(page, "outside-tester-compare-names")
        # as typed (an invisible word joiner after "http:" keeps GFM from making a link of it)
        main = page.locator("[data-testid=stMain]").inner_text().replace("\u2060", "")
        assert f"lora {image}" in main and f"smollm {link}" in main
        assert page.locator(f"img[src*='{port}']").count() == 0
        assert page.locator(f"a[href*='127.0.0.1:{port}']").count() == 0
        assert seen == [], f"the page fetched what a name told it to: {seen}"
    finally:
        context.close()
        server.terminate()
        server.wait(timeout=20)

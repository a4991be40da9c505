"""Issue 15 in a real browser: a run named ``![v](http://127.0.0.1:PORT/x.png)`` and an upload of
that name make the browser fetch nothing (a local listener records every request that reaches
it) and read as typed on the Runs and Train pages."""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.e2e.conftest import ARTIFACTS, _free_port, screenshot, settled, start_lab

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model


def shot(page, name: str) -> None:
    """A viewport screenshot (the main area scrolls inside the page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
def listener():
    """A tiny HTTP server on a free local port; yields the list of paths requested from it."""
    seen: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server name
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


def test_a_markdown_image_in_a_run_or_upload_name_fetches_nothing_and_reads_as_typed(
        listener, page, tmp_path, monkeypatch):
    port, requests = listener
    name = f"![v](http://127.0.0.1:{port}/x.png)"
    home = tmp_path / "home"
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))
    from core import runs
    from core.train_config import TrainConfig

    runs.create_run(TrainConfig(name=name, task="review-sentiment"))
    lab_port = _free_port()
    server = start_lab(lab_port, tmp_path / "streamlit.log", home)
    try:
        url = f"http://127.0.0.1:{lab_port}"
        page.goto(f"{url}/Runs")
        main = page.locator("[data-testid=stMain]")
        page.get_by_role("heading", name="Runs").first.wait_for(timeout=LOAD)
        settled(page)
        # the heading "Run <name>": as typed (a word joiner after "http:" keeps it from linking)
        main.get_by_text("Run ![v](", exact=False).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # time for an image to be fetched, were one rendered
        screenshot(page, "outside-tester-escaping-runs")
        assert f"Run {name}" in main.inner_text().replace("\u2060", "")
        assert main.locator(f"a[href*='127.0.0.1:{port}']").count() == 0

        page.goto(f"{url}/Train")
        page.get_by_role("button", name="Start training").wait_for(timeout=LOAD)
        main.get_by_text("Upload CSV / JSONL").click()
        page.locator("input[type=file]").set_input_files(
            {"name": name + ".csv", "mimeType": "text/csv",
             "buffer": b"text,label\nGreat kettle,POSITIVE\nIt leaks,NEGATIVE\n"})
        using = main.get_by_text("Using ![v](", exact=False)
        using.wait_for(timeout=120_000)
        settled(page)
        page.wait_for_timeout(1000)
        using.scroll_into_view_if_needed()
        shot(page, "outside-tester-escaping-train")
        assert f"Using {name}.csv" in main.inner_text().replace("\u2060", "")
        assert main.locator("img[src*='127.0.0.1']").count() == 0
        assert main.locator(f"a[href*='127.0.0.1:{port}']").count() == 0
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert requests == [], f"the browser fetched what a name told it to: {requests}"

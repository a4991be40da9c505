"""Every page as a first-time user opens it, with the console open: the page draws without
waiting for the model, draws whole (its own heading, no error shown), and the browser asks
nothing of the network beyond the lab itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ARTIFACTS, ROOT, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000
# every page, by the URL Streamlit gives it (the file name without its number)
PAGES = [""] + [re.sub(r"^\d+_", "", p.stem) for p in sorted((ROOT / "pages").glob("*.py"))]
# each page's own heading (a page not named here: its first h1, whatever it says)
HEADINGS = {"": "PromptTune Lab", "Tour": "10-minute lesson", "Tasks": "Tasks",
            "Playground": "Playground", "Few-shot_builder": "Few-shot builder",
            "Knowledge": "Knowledge", "Train": "Train", "Runs": "Runs", "Compare": "Compare",
            "Advisor": "Advisor", "History": "History"}
# Opened by its URL (a reload, a bookmark), a page's frontend first looks for the server one
# level down, at /<Page>/_stcore/health and /host-config, and falls back to / on their 404:
# Streamlit's own base-path probe (static/js, getPossibleBaseUris), same-origin, nothing sent
# off the machine. Moving between pages through the sidebar never probes (see the last test).
BASE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")


class Watch:
    """What one browser tab asked for and complained about."""

    def __init__(self, page) -> None:
        self.outside, self.failed, self.errors, self.probes = [], [], [], []
        page.on("request", self._request)
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", self._response)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _request(self, request) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in ("127.0.0.1", "localhost"):
            self.outside.append(request.url)

    def _response(self, response) -> None:
        if response.status >= 400 and BASE_PATH_PROBE.match(urlsplit(response.url).path):
            self.probes.append(response.url)
        elif response.status >= 400:
            self.failed.append(f"{response.url} ({response.status})")

    def unexplained_errors(self) -> list[str]:
        """Console errors less the one 'Failed to load resource: ... 404' each probe logs."""
        not_found = [e for e in self.errors if "status of 404 (Not Found)" in e]
        others = [e for e in self.errors if e not in not_found]
        return others + not_found[len(self.probes):]


def _open(page, url: str) -> None:
    page.goto(url)
    page.locator("h1").first.wait_for(timeout=LOAD)
    page.get_by_text("Model", exact=True).first.wait_for(timeout=LOAD)  # the sidebar is drawn
    page.wait_for_timeout(2500)  # late requests: icons, fonts, images


def test_pages_draw_at_once_and_only_a_page_that_uses_the_model_loads_it(lab_server, page):
    """First in this file: no page of this server has used the model yet."""
    for name in ("", "Train", "Runs", "History", "Knowledge"):
        _open(page, f"{lab_server}/{name}")
        sidebar = page.locator("[data-testid=stSidebar]")
        assert "not loaded yet" in sidebar.inner_text(), f"/{name} waited for the model"
        if name in ("", "Train"):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"first-visit-{name or 'home'}.png"))
    page.goto(f"{lab_server}/Playground")  # it counts the prompt's tokens: loads where it does
    page.locator("h1").first.wait_for(timeout=LOAD)
    loading = page.get_by_text("Loading Gemma 3 270M")
    try:  # best effort: the loading may be over before the browser draws it
        loading.wait_for(timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "first-visit-playground-loading.png"))
    except Exception:  # noqa: BLE001 - a screenshot only
        pass
    page.get_by_text("loaded in").first.wait_for(timeout=LOAD)
    assert "Playground" in page.locator("h1").first.inner_text()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opened_by_its_url_asks_nothing_of_the_network(lab_server, page, name):
    """Also the smoke test of every page (test_every_page.py's, now in the slow suite): the
    page's own heading, and no error once the sidebar says the model is loaded (or not used)."""
    watch = Watch(page)
    _open(page, f"{lab_server}/{name}")
    page.get_by_text(re.compile("llama.cpp engine|not loaded yet")).first.wait_for(timeout=LOAD)
    if name in HEADINGS:
        page.get_by_role("heading", name=HEADINGS[name]).first.wait_for(timeout=60_000)
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, f"page-{name or 'home'}")
    assert not watch.outside, f"/{name} asked outside the machine (a ':material/' page_icon is " \
                              "fetched from fonts.gstatic.com: use an emoji): " + " ".join(watch.outside)
    assert not watch.failed, watch.failed
    assert not watch.unexplained_errors(), watch.unexplained_errors()
    assert len(watch.probes) <= 2 and (name or not watch.probes)  # the home page never probes


def test_walking_every_page_through_the_sidebar_sends_nothing_and_logs_no_error(lab_server, page):
    watch = Watch(page)
    _open(page, lab_server)
    links = page.locator("[data-testid=stSidebar] [data-testid=stPageLink] a")
    assert links.count() == len(PAGES)
    for i in range(len(PAGES)):
        path = "/" + (links.nth(i).get_attribute("href") or "")  # relative: "", "Tour", ...
        links.nth(i).click()
        page.wait_for_function(f"() => location.pathname === {path!r}", timeout=LOAD)
        page.locator("h1").first.wait_for(timeout=LOAD)
        page.wait_for_timeout(2000)
    assert not watch.outside, "\n".join(watch.outside)
    assert not watch.failed and not watch.probes, watch.failed + watch.probes
    assert not watch.errors, "\n".join(watch.errors)

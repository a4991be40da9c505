"""A real lab server on a free local port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(port: int, log: Path, home: Path | None = None,
              timeout: float = 60) -> subprocess.Popen:
    """`streamlit run app.py` on ``port`` as ./lab.sh start runs it (``home``: its
    PROMPTTUNE_HOME, else the caller's); returns once the server answers its health check."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if home is not None:
        env["PROMPTTUNE_HOME"] = str(home)
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                               "--server.port", str(port)], cwd=ROOT, env=env,
                              stdout=log.open("a"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return server
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the lab exited; see {log}")
            time.sleep(0.5)
    server.kill()
    pytest.fail(f"the lab did not start; see {log}")


def settled(page) -> None:
    """Wait until Streamlit's rerun has drawn everything (no element is greyed out as stale)."""
    page.wait_for_timeout(500)
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=120_000)


@pytest.fixture(scope="module")
def lab_and_home(tmp_path_factory):
    """Start `streamlit run app.py` as a user would, with its own data folder: (address,
    folder), for tests that look into what the lab wrote there."""
    home = tmp_path_factory.mktemp("e2e-home")
    port = _free_port()
    server = start_lab(port, tmp_path_factory.mktemp("e2e-log") / "streamlit.log", home)
    yield f"http://127.0.0.1:{port}", home
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def lab_server(lab_and_home):
    """The address of the module's lab server."""
    return lab_and_home[0]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (./lab.sh test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

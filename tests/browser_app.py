"""What the browser tests share: Debian's Chromium for Playwright, and the app started as a server.

A test module marks itself with :data:`MARKS` (skipped, with the reason, where Chromium or Playwright
is missing; .ci/run installs Chromium)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make test installs it)")
MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium found: install Debian's chromium to run the browser tests"
    ),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(xil_home: Path, **env: str) -> Iterator[str]:
    """The Streamlit app on a free loopback port over ``xil_home`` (no worker), with ``env`` added;
    yields its URL once it answers."""
    port = _free_port()
    env = {**os.environ, "XIL_HOME": str(xil_home), "XIL_START_WORKER": "0", "STREAMLIT_SERVER_PORT": str(port), **env}
    app = str(PROJECT_ROOT / "streamlit_app.py")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", app, "--server.address", "127.0.0.1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the Streamlit app did not start within 60 s")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def chromium() -> Iterator:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser):
    """A page in a browser context of its own (its own cookies: another person)."""
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.set_default_timeout(60_000)
    return tab

"""App responsiveness: `streamlit run app.py` start to a rendered home page, and switching between pages.

A real browser (Debian's chromium driven by playwright; playwright never downloads one) loads the app.
"The page is rendered" means: the app is connected, its script is not running, no running indicator shows,
and the page's first heading (not a stale element of the previous page) is visible at the page's own URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import PROJECT_DIR
from .stats import median

from .load_test import CHROMIUM_ARGS  # one list of browser flags for every browser this project starts
from .load_test import DEFAULT_CHROMIUM as CHROMIUM
NAV_LINKS = 'a[data-testid="stSidebarNavLink"], a[data-testid="stTopNavLink"], [data-testid="stSidebarNav"] a'

# Text of an element without its Material icon ligatures ("grid_view") or heading anchor actions.
CLEAN_TEXT_JS = """
  const clean = (el) => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('[role="img"], [data-testid*="Icon"], [data-testid="stHeaderActionElements"], svg').forEach(n => n.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
"""

# Resolves to the page's first heading text once the page is rendered and settled, else null.
SETTLED_JS = """
([expectedTitle, expectedPath, previousTitle]) => {""" + CLEAN_TEXT_JS + """
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return null;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return null;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'))
    return null;
  if (expectedPath !== null && window.location.pathname.replace(/\\/+$/, '') !== expectedPath.replace(/\\/+$/, ''))
    return null;
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const live = (el) => !el.closest('[data-stale="true"]') && el.offsetParent !== null && el.innerText.trim() !== '';
  let headings = [...main.querySelectorAll('h1')].filter(live);
  if (!headings.length) headings = [...main.querySelectorAll('h2, h3')].filter(live);
  if (!headings.length) return null;
  const title = clean(headings[0]);
  if (expectedTitle !== null && title !== expectedTitle) return null;
  if (expectedTitle === null && previousTitle !== null && title === previousTitle) return null;
  return title;
}
"""

LINKS_JS = """
(selector) => {""" + CLEAN_TEXT_JS + """
  return [...document.querySelectorAll(selector)].map(a => ({
    text: clean(a), href: a.getAttribute('href'), path: new URL(a.href, window.location.href).pathname
  }));
}
"""


@dataclass(frozen=True)
class PageTiming:
    page: str  # the nav link's text
    path: str
    title: str  # the heading seen when it settled
    seconds: float


@dataclass
class AppResult:
    app_path: str
    skipped: str | None = None
    error: str | None = None
    server_ready_seconds: float | None = None  # process start -> /_stcore/health answers
    start_seconds: float | None = None  # process start -> home page rendered and settled
    home_title: str = ""
    first_visits: list[PageTiming] = field(default_factory=list)
    switches: list[PageTiming] = field(default_factory=list)  # to pages visited before
    page_errors: list[str] = field(default_factory=list)
    nav_pages: list[str] = field(default_factory=list)

    @property
    def switch_median_seconds(self) -> float | None:
        return median([s.seconds for s in self.switches]) if self.switches else None

    @property
    def switch_max_seconds(self) -> float | None:
        return max(s.seconds for s in self.switches) if self.switches else None


def app_unavailable_reason(app_path: Path) -> str | None:
    if not app_path.is_file():
        return f"{app_path} does not exist"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - localhost only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """End the streamlit server this benchmark started (its own session/process group) by its id."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def run_app_benchmark(
    app_path: Path | None = None,
    *,
    quick: bool = False,
    rounds: int = 2,
    timeout_s: float = 120.0,
    log: Callable[[str], None] = print,
) -> AppResult:
    app_path = Path(app_path or PROJECT_DIR / "app.py").resolve()
    result = AppResult(app_path=str(app_path))
    reason = app_unavailable_reason(app_path)
    if reason:
        result.skipped = reason
        log(f"[app] skipped: {reason}")
        return result

    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)  # FMNIST_DATA_DIR included (the CLI defaults it)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
    ]
    server_log = tempfile.NamedTemporaryFile(prefix="fmnist-bench-streamlit-", suffix=".log", delete=False)  # noqa: SIM115
    process: subprocess.Popen | None = None
    timeout_ms = timeout_s * 1000
    try:
        with sync_playwright() as playwright:
            # The browser starts before the server so its own start-up is not counted as the app's.
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                log(f"[app] starting: {' '.join(command[2:])}")
                started = time.perf_counter()
                process = subprocess.Popen(
                    command, cwd=app_path.parent, env=env, stdout=server_log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
                while not _health_ok(f"{base}/_stcore/health"):
                    if process.poll() is not None:
                        raise RuntimeError(f"streamlit exited with status {process.returncode}")
                    if time.perf_counter() - started > timeout_s:
                        raise RuntimeError(f"streamlit did not answer within {timeout_s:.0f} s")
                    time.sleep(0.05)
                result.server_ready_seconds = time.perf_counter() - started
                page.goto(base + "/", wait_until="commit", timeout=timeout_ms)
                title = page.wait_for_function(SETTLED_JS, arg=[None, None, None], timeout=timeout_ms).json_value()
                result.start_seconds = time.perf_counter() - started
                result.home_title = title
                log(
                    f"[app] server answered after {result.server_ready_seconds:.2f} s; home page "
                    f"'{title}' rendered {result.start_seconds:.2f} s after process start"
                )
                _check_errors(page, "home", result)
                links = page.evaluate(LINKS_JS, NAV_LINKS)
                home_path = page.evaluate("() => window.location.pathname")
                pages, seen_paths = [], set()
                for link in links:
                    if link["path"] in seen_paths:
                        continue
                    seen_paths.add(link["path"])
                    pages.append(link)
                result.nav_pages = [link["text"] for link in pages]
                home = next((l for l in pages if l["path"].rstrip("/") == home_path.rstrip("/")), None)
                others = [l for l in pages if l is not home]
                if not others:
                    log("[app] no navigation links to other pages: page switching not measured")
                    return result
                if home is None:
                    home = {"text": "home", "href": None, "path": home_path}
                if quick:
                    others = others[:1]
                titles = {home["path"]: title}
                current = home
                for link in others:  # first visits (each page's script runs for the first time)
                    timing = _switch(page, link, titles.get(link["path"]), current, titles, timeout_ms)
                    titles[link["path"]] = timing.title
                    result.first_visits.append(timing)
                    log(f"[app] first visit '{link['text']}' -> '{timing.title}': {timing.seconds:.2f} s")
                    _check_errors(page, link["text"], result)
                    current = link
                cycle = [home, *others]
                plan = [p for _ in range(1 if quick else rounds) for p in cycle]
                if quick:
                    plan = [home, others[0]]
                for link in plan:
                    if link["path"] == current["path"]:
                        continue
                    timing = _switch(page, link, titles[link["path"]], current, titles, timeout_ms)
                    result.switches.append(timing)
                    log(f"[app] switch to visited '{link['text']}': {timing.seconds:.2f} s")
                    _check_errors(page, link["text"], result)
                    current = link
            finally:
                browser.close()
    except (PlaywrightError, RuntimeError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log(f"[app] failed: {result.error}")
        tail = Path(server_log.name).read_text(errors="replace")[-2000:]
        if tail.strip():
            log("[app] streamlit output (tail):\n" + tail)
    finally:
        if process is not None:
            _stop(process)
        server_log.close()
        Path(server_log.name).unlink(missing_ok=True)
    return result


def _switch(page, link, expected_title, current, titles, timeout_ms) -> PageTiming:
    """Click the nav link and wait until that page is rendered and settled at its own URL."""
    locator = page.locator(f'a[href="{link["href"]}"]').first if link.get("href") else None
    if locator is None:
        raise RuntimeError(f"no link to {link['text']!r}")
    start = time.perf_counter()
    locator.click(timeout=timeout_ms)
    previous_title = titles.get(current["path"]) if expected_title is None else None
    title = page.wait_for_function(
        SETTLED_JS, arg=[expected_title, link["path"], previous_title], timeout=timeout_ms, polling="raf"
    ).json_value()
    return PageTiming(link["text"], link["path"], title, time.perf_counter() - start)


def _check_errors(page, label: str, result: AppResult) -> None:
    count = page.locator('[data-testid="stException"]').count()
    if count:
        message = page.locator('[data-testid="stException"]').first.inner_text()[:200].replace("\n", " ")
        result.page_errors.append(f"{label}: {count} exception(s): {message}")


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None

"""App responsiveness: `streamlit run app.py` start to a rendered home page, each page's first visit once the
server is warm, and switching between pages.

A real browser (Debian's chromium driven by playwright; playwright never downloads one) loads the app.
"The page is rendered" means: the app is connected, its script is not running, no running indicator shows,
and the page's first heading (not a stale element of the previous page) is visible at the page's own URL.
"The server is warm" means its background warm-up (ui/warmup.py: dataset, TensorFlow, the default model and
its test-set predictions) has logged that it finished; how long that took is recorded too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.browser import APP_IDLE_EXPR, CHROMIUM_ARGS, AppServer, chromium_executable

from . import PROJECT_DIR
from .stats import median

#: The line ui/warmup.py logs when the server's caches are warm.
WARM_LOG_PATTERN = r"caches warmed in [0-9.]+ s|cache warm-up stopped"
NAV_LINKS = 'a[data-testid="stSidebarNavLink"], a[data-testid="stTopNavLink"], [data-testid="stSidebarNav"] a'

# Text of an element without its Material icon ligatures ("grid_view") or heading anchor actions.
CLEAN_TEXT_JS = """
  const clean = (el) => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('[role="img"], [data-testid*="Icon"], [data-testid="stHeaderActionElements"], svg')
      .forEach(n => n.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
"""

# Resolves to the page's first heading text once the page is rendered and settled, else null.
PAGE_SETTLED_JS = """
([expectedTitle, expectedPath, previousTitle]) => {""" + CLEAN_TEXT_JS + """
  if (!""" + APP_IDLE_EXPR + """) return null;
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
    start_seconds: float | None = None  # process start -> home page rendered
    warm_seconds: float | None = None  # process start -> the background warm-up finished (None: not seen) and settled
    home_title: str = ""
    first_visits: list[PageTiming] = field(default_factory=list)
    switches: list[PageTiming] = field(default_factory=list)  # to pages visited before
    page_errors: list[str] = field(default_factory=list)

    @property
    def switch_median_seconds(self) -> float | None:
        return median([s.seconds for s in self.switches]) if self.switches else None

    @property
    def switch_max_seconds(self) -> float | None:
        return max(s.seconds for s in self.switches) if self.switches else None


def app_unavailable_reason(app_path: Path) -> str | None:
    if not app_path.is_file():
        return f"{app_path} does not exist"
    if chromium_executable() is None:
        return "no Chromium is installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


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

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="fmnist-bench-app-"))
    # A fresh runs folder: the shipped default model is the active one, as on a fresh clone.
    server = AppServer(work / "runs", log_path=work / "streamlit.log", app=app_path)
    timeout_ms = timeout_s * 1000
    try:
        with sync_playwright() as playwright:
            # The browser starts before the server so its own start-up is not counted as the app's.
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS,
                                                 headless=True)
            try:
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                log(f"[app] starting: {' '.join(server.command()[2:])}")
                started = time.perf_counter()
                server.start(timeout_s=timeout_s)
                result.server_ready_seconds = time.perf_counter() - started
                page.goto(server.url + "/", wait_until="commit", timeout=timeout_ms)
                title = page.wait_for_function(PAGE_SETTLED_JS, arg=[None, None, None],
                                               timeout=timeout_ms).json_value()
                result.start_seconds = time.perf_counter() - started
                result.home_title = title
                log(
                    f"[app] server answered after {result.server_ready_seconds:.2f} s; home page "
                    f"'{title}' rendered {result.start_seconds:.2f} s after process start"
                )
                _check_errors(page, "home", result)
                if server.wait_for_log(WARM_LOG_PATTERN, timeout_s):
                    result.warm_seconds = time.perf_counter() - started
                    log(f"[app] server warm {result.warm_seconds:.2f} s after process start")
                else:
                    log("[app] the server's warm-up did not finish: first visits measured cold")
                links = page.evaluate(LINKS_JS, NAV_LINKS)
                home_path = page.evaluate("() => window.location.pathname")
                pages, seen_paths = [], set()
                for link in links:
                    if link["path"] in seen_paths:
                        continue
                    seen_paths.add(link["path"])
                    pages.append(link)
                home = next((link for link in pages if link["path"].rstrip("/") == home_path.rstrip("/")), None)
                others = [link for link in pages if link is not home]
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
        tail = server.log_tail(2000)
        if tail.strip():
            log("[app] streamlit output (tail):\n" + tail)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
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
        PAGE_SETTLED_JS, arg=[expected_title, link["path"], previous_title], timeout=timeout_ms, polling="raf"
    ).json_value()
    return PageTiming(link["text"], link["path"], title, time.perf_counter() - start)


def _check_errors(page, label: str, result: AppResult) -> None:
    count = page.locator('[data-testid="stException"]').count()
    if count:
        message = page.locator('[data-testid="stException"]').first.inner_text()[:200].replace("\n", " ")
        result.page_errors.append(f"{label}: {count} exception(s): {message}")

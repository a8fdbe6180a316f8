"""A real browser against the real app: Debian's Chromium, `streamlit run app.py` on a free port, and the
JavaScript checks for "the app has settled" and its main texts. Used by the browser tests, the app
benchmark and the load test (one copy of each). No fmnist_core import here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

#: Debian's chromium; Playwright never downloads a browser in this project.
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "FMNIST_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}

# Selectors and texts of the app (views/classify.py, views/training.py, ui/classify.py).
#: JavaScript expression: true when the app has settled, as Streamlit's own e2e tests define it: connected, no
#: script running, no running indicator, and no skeletons (widgets whose code is still loading).
APP_IDLE_EXPR = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
      + '[data-testid="stStatusWidgetRunningManIcon"], [data-testid="stSkeleton"]');
})()"""
#: JavaScript: true when the app has settled (see APP_IDLE_EXPR).
SETTLED_JS = "() => " + APP_IDLE_EXPR
EXCEPTION = '[data-testid="stException"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'
FILE_INPUT = '[data-testid="stFileUploader"] input[type="file"]'
PREDICTION_PREFIX = "Prediction: "
# The training queue (ui/jobs_panel.py): training runs in the engine's workers, every submission is queued.
QUEUE_HEADING = "Training queue"
#: The note after Start: "Job <id> submitted (position N in the queue)." or "(starting)".
SUBMITTED_PATTERN = re.compile(r"Job (\S+) submitted \((?:position (\d+) in the queue|starting)\)")
#: A queued job's row: "#N in the queue · <config> · by <who>".
QUEUED_PATTERN = re.compile(r"#(\d+) in the queue")
#: A finished job's row in "Recently finished": "<job id> completed: test accuracy 81.23% · ...".
FINISHED_PATTERN = re.compile(r"^(\S+) (completed|stopped): test accuracy \d+\.\d+%")

#: JavaScript: the text of the "Prediction: ..." heading, or null.
PREDICTION_JS = """() => {
  const h = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] h3')]
    .find(e => e.textContent.trim().startsWith('Prediction:'));
  return h ? h.textContent.trim() : null;
}"""
#: JavaScript: true once the heading names the expected class.
PREDICTION_IS_JS = """(expected) => {
  const h = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] h3')]
    .find(e => e.textContent.trim().startsWith('Prediction:'));
  return !!h && h.textContent.trim() === expected;
}"""


def chromium_executable() -> str | None:
    """The Chromium to drive: $FMNIST_CHROMIUM, /usr/bin/chromium, or one on PATH; None if there is none."""
    for candidate in (os.environ.get(CHROMIUM_ENV), DEFAULT_CHROMIUM):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -r requirements-dev.txt)"
    if chromium_executable() is None:
        return (f"no Chromium at {DEFAULT_CHROMIUM} or on PATH (apt-get install chromium, or set {CHROMIUM_ENV}); "
                "Playwright's own browser download is not used")
    return None


def launch_kwargs() -> dict[str, Any]:
    return {"executable_path": chromium_executable(), "args": list(CHROMIUM_ARGS), "headless": True}


# ---------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` in its own process group, on a free port, with its own runs folder."""

    def __init__(self, runs_dir: str | Path, *, env: dict[str, str] | None = None, log_path: str | Path | None = None,
                 extra_args: list[str] | tuple[str, ...] = (), app: str | Path = PROJECT_DIR / "app.py"):
        self.app = Path(app).resolve()
        self.runs_dir = Path(runs_dir)
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.log_path = Path(log_path) if log_path else self.runs_dir.parent / f"streamlit-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self._log = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", self.app.name,
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
            *self.extra_args,
        ]

    def start(self, timeout_s: float = 120.0) -> AppServer:
        env = dict(os.environ)
        env.update({"FMNIST_RUNS_DIR": str(self.runs_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
                    "FMNIST_WARM_UP": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})
        env.update(self.extra_env)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(), cwd=self.app.parent, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}:\n{self.log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout_s:.0f} s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.status == 200 and response.read().strip() == b"ok"
        except (urllib.error.URLError, OSError):
            return False

    def wait_for_log(self, pattern: str, timeout_s: float) -> bool:
        """Wait until the server log matches the regular expression; False after timeout_s."""
        deadline = time.monotonic() + timeout_s
        compiled = re.compile(pattern)
        while time.monotonic() < deadline:
            if compiled.search(self.log_tail(5_000_000)):
                return True
            if self.process is not None and self.process.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def server_exceptions(log: str) -> list[str]:
    """One line per traceback in a server log: the exception and the innermost project frame."""
    lines = _ANSI.sub("", log).splitlines()
    found = []
    for i, line in enumerate(lines):
        if "Traceback" not in line:
            continue
        where, what = "", line.strip()
        for follow in lines[i + 1:i + 400]:
            # Plain frames ('File "x.py", line 3, in f') and Rich's boxed ones ('│ /x/y.py:3 in f │').
            frame = (re.match(r'\s*File "([^"]+)", line (\d+), in (\S+)', follow)
                     or re.search(r"(/\S+\.py):(\d+) in (\S+)", follow))
            if frame and "site-packages" not in frame.group(1):
                where = f"{Path(frame.group(1)).name}:{frame.group(2)} in {frame.group(3)}"
            elif (follow and not follow[0].isspace() and follow[0] not in "│╭╰─"
                  and not follow.startswith(("Traceback", "During handling"))):
                what = follow.strip()
                break
        found.append(f"{what[:300]}" + (f" (at {where})" if where else ""))
    return found



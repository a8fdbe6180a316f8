"""Load test of the real app: many browser sessions classify uploads at once while one session trains.

    python -m benchmarks.load_test [--sessions 10] [--seconds 60] [--record]

It starts ``streamlit run app.py`` on a free port with a temporary runs folder, opens one
Chromium with ``--sessions`` browser contexts (independent Streamlit sessions) on the
Classify page, and has each upload a real Fashion-MNIST test image (upscaled to 280x280
PNG) again and again, alternating two images of different classes, for ``--seconds``.
The latency of a classification is the time from handing the file to the uploader to the
new "Prediction: <class>" heading being visible; each session then waits for the page to
finish rendering (the app idle again) before its next upload. An error is an exception or error box on
the page, a JavaScript error, a prediction that is wrong or does not appear in time.

In the same run (unless ``--no-training``) one extra session starts a training job on the
Training page a fifth of the way in, and a second extra session then asks to train too:
the report says whether the classifiers kept working while the job ran (classifications
completed during it, their latency) and what the second session was told.

``--record`` appends a section to benchmarks/RESULTS.md (append only; other benchmarks
write there too). The server, samples and browser helpers here are also used by
tests/test_e2e_browser.py and tests/test_load_smoke.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import math
import os
import platform
import re
import shlex
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
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESULTS_PATH = PROJECT_DIR / "benchmarks" / "RESULTS.md"
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Sections are appended by the benchmark scripts (`python -m benchmarks`, `python -m benchmarks.load_test "
    "--record`); each states the machine and the command that produced it.\n"
)

# ---------------------------------------------------------------- browser
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
#: JavaScript: true when the app has settled, as Streamlit's own e2e tests define it: connected, no script
#: running, no running indicator, and no skeletons (widgets whose code is still loading).
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
      + '[data-testid="stStatusWidgetRunningManIcon"], [data-testid="stSkeleton"]');
}"""
EXCEPTION = '[data-testid="stException"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'
FILE_INPUT = '[data-testid="stFileUploader"] input[type="file"]'
PREDICTION_PREFIX = "Prediction: "
BUSY_PATTERN = re.compile(r"already training|Starting is disabled while a model trains", re.IGNORECASE)
TRAINING_NOW = "Training now"

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
        import playwright  # noqa: F401, PLC0415
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
                 extra_args: list[str] | tuple[str, ...] = ()):
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
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
            *self.extra_args,
        ]

    def start(self, timeout_s: float = 120.0) -> AppServer:
        env = dict(os.environ)
        env.update({"FMNIST_RUNS_DIR": str(self.runs_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(), cwd=PROJECT_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
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


# ---------------------------------------------------------------- the model and the sample images
_TINY_RUN_CACHE: dict[str, Path] = {}


def app_store(runs_dir: str | Path):
    """The RunStore the app will use for this runs folder (ui/state.run_store: the same shipped-default
    folder from fmnist_core.constants, without importing the Streamlit layer)."""
    from fmnist_core.constants import pretrained_dir  # noqa: PLC0415
    from fmnist_core.runs import RunStore  # noqa: PLC0415

    return RunStore(runs_dir, pretrained_dir=pretrained_dir())


#: The tiny model trained when the app would otherwise have none: one epoch of the seed report's
#: optimiser (Adam 1e-3, constant) at batch 32 on 2,000 images, about 0.7 test accuracy in ~10 CPU-seconds.
TINY_MODEL = dict(architecture="seed_cnn", epochs=1, batch_size=32, learning_rate=1e-3, optimizer="adam",
                  schedule="constant", warmup_epochs=0.0, weight_decay=0.0, train_limit=2000, seed=7)


def ensure_active_model(runs_dir: str | Path, *, copy_run_from: str | Path | None = None):
    """The run the app will open as the active model, making sure there is one.

    With the shipped default model present (fmnist_core/pretrained/default) that is it. Otherwise the
    run folder copy_run_from is copied in, or a tiny model (TINY_MODEL) is trained once per process.
    """
    run = app_store(runs_dir).default_active_run()
    if run is not None:
        return run
    source = Path(copy_run_from) if copy_run_from is not None else _tiny_run()
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, Path(runs_dir) / source.name, dirs_exist_ok=True)
    run = app_store(runs_dir).default_active_run()
    if run is None:
        raise RuntimeError(f"the run copied from {source} is not one the app can use as its active model")
    return run


def _tiny_run() -> Path:
    from fmnist_core.config import TrainConfig  # noqa: PLC0415
    from fmnist_core.runs import RunStore  # noqa: PLC0415
    from fmnist_core.training import train  # noqa: PLC0415

    cached = _TINY_RUN_CACHE.get("run")
    if cached is None or not cached.is_dir():
        root = Path(tempfile.mkdtemp(prefix="fmnist-tiny-run-"))
        result = train(TrainConfig(**TINY_MODEL), store=RunStore(root, pretrained_dir=None),
                       command="benchmarks.load_test tiny model")
        cached = _TINY_RUN_CACHE["run"] = result.run.path
    return cached


@dataclass(frozen=True)
class SampleImage:
    path: Path
    label: str  # the true class, which the active model also predicts
    test_index: int

    @property
    def expected_text(self) -> str:
        return PREDICTION_PREFIX + self.label


def upscaled_png(image28, size: int = 280) -> bytes:
    from PIL import Image  # noqa: PLC0415

    buffer = io.BytesIO()
    Image.fromarray(image28).resize((size, size), Image.Resampling.BILINEAR).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def pick_samples(run, classes: tuple[str, ...], out_dir: str | Path, *, per_class_candidates: int = 40,
                 margin: float = 0.2) -> list[SampleImage]:
    """One real test image per class, as a 280x280 PNG, that the given run classifies right with a margin.

    The check uses the app's own path (preprocess_upload + Predictor), so the page must show the same class.
    """
    import numpy as np  # noqa: PLC0415

    from fmnist_core.constants import CLASS_NAMES  # noqa: PLC0415
    from fmnist_core.data import load_dataset  # noqa: PLC0415
    from fmnist_core.inference import Predictor  # noqa: PLC0415
    from fmnist_core.preprocess import preprocess_upload  # noqa: PLC0415
    from fmnist_core.runs import RunStore  # noqa: PLC0415

    store = RunStore(run.path.parent, pretrained_dir=None)
    predictor = Predictor(store.load_model(run.run_id))
    data = load_dataset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for name in classes:
        label = CLASS_NAMES.index(name)
        candidates = np.flatnonzero(data.y_test == label)[:per_class_candidates]
        pngs = [upscaled_png(data.x_test[index]) for index in candidates]
        batch = np.stack([preprocess_upload(png).model_input for png in pngs])
        probs = predictor.predict(batch)
        top2 = np.sort(probs, axis=1)[:, -2:]
        good = np.flatnonzero((probs.argmax(axis=1) == label) & (top2[:, 1] - top2[:, 0] >= margin))
        if len(good):
            index, png = int(candidates[good[0]]), pngs[good[0]]
            path = out / f"{name.lower().replace('/', '-').replace(' ', '-')}-{index}.png"
            path.write_bytes(png)
            samples.append(SampleImage(path, name, index))
    return samples


def pick_two_samples(run, out_dir: str | Path) -> list[SampleImage]:
    """Two images of different classes the run gets right (alternating them makes each upload's answer new)."""
    preferred = ("Trouser", "Ankle boot", "Bag", "Sneaker", "Sandal", "Dress", "T-shirt/top", "Coat", "Pullover",
                 "Shirt")
    samples = pick_samples(run, preferred, out_dir)
    if len(samples) < 2:
        raise RuntimeError(f"the active model {run.run_id!r} classifies too few test images confidently")
    return samples[:2]


# ---------------------------------------------------------------- measurements
@dataclass
class Classification:
    session: int
    started: float  # time.monotonic()
    finished: float
    ok: bool
    error: str | None = None
    settled: float | None = None  # when the whole page had rendered (app idle again)

    @property
    def latency(self) -> float:
        return self.finished - self.started

    @property
    def render_latency(self) -> float | None:
        return None if self.settled is None else self.settled - self.started


@dataclass
class TrainingCheck:
    started: bool = False
    start_time: float | None = None
    end_time: float | None = None
    finished_in_test: bool = False
    busy_message: str | None = None
    progress_text: str | None = None
    error: str | None = None


@dataclass
class LoadResult:
    sessions: int
    seconds: float
    url: str
    model: str
    samples: list[str]
    classifications: list[Classification] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    training: TrainingCheck | None = None
    measured_from: float = 0.0
    measured_to: float = 0.0
    setup_seconds: float = 0.0

    @property
    def completed(self) -> list[Classification]:
        return [c for c in self.classifications if c.ok]

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def latencies(self, start: float | None = None, end: float | None = None) -> list[float]:
        return sorted(c.latency for c in self.completed
                      if (start is None or c.finished >= start) and (end is None or c.finished <= end))

    @property
    def window(self) -> float:
        return max(1e-9, self.measured_to - self.measured_from)

    @property
    def throughput(self) -> float:
        return len(self.completed) / self.window

    def training_window(self) -> tuple[float, float] | None:
        t = self.training
        if t is None or not t.started or t.start_time is None or t.start_time >= self.measured_to:
            return None
        return t.start_time, min(t.end_time or self.measured_to, self.measured_to)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies()
        out: dict[str, Any] = {
            "sessions": self.sessions,
            "seconds": self.seconds,
            "classifications": len(self.completed),
            "errors": self.error_count,
            "p50_s": percentile(lat, 50),
            "p99_s": percentile(lat, 99),
            "max_s": lat[-1] if lat else None,
            "p50_settled_s": percentile(sorted(c.render_latency for c in self.completed
                                               if c.render_latency is not None), 50),
            "throughput_per_s": self.throughput,
        }
        window = self.training_window()
        if window is not None:
            during = self.latencies(*window)
            out.update(
                training_window_s=window[1] - window[0],
                classifications_during_training=len(during),
                p50_during_training_s=percentile(during, 50),
                p99_during_training_s=percentile(during, 99),
                throughput_during_training_per_s=len(during) / max(1e-9, window[1] - window[0]),
                busy_message=self.training.busy_message,
                training_finished=self.training.finished_in_test,
            )
            outside = sorted(c.latency for c in self.completed if not window[0] <= c.finished <= window[1])
            out.update(classifications_without_training=len(outside), p50_without_training_s=percentile(outside, 50))
        return out


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method) of an already sorted list."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


# ---------------------------------------------------------------- browser sessions (async Playwright)
async def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the app has settled (see SETTLED_JS)."""
    await page.wait_for_function(SETTLED_JS, polling=100, timeout=timeout_ms)


async def page_problems(page) -> list[str]:
    problems = []
    if await page.locator(EXCEPTION).count():
        problems.append("exception on the page: " + (await page.locator(EXCEPTION).first.inner_text())[:200])
    if await page.locator(ERROR_BOX).count():
        problems.append("error box on the page: " + (await page.locator(ERROR_BOX).first.inner_text())[:200])
    return problems


async def open_classify(context, url: str, timeout_ms: float):
    page = await context.new_page()
    await page.goto(f"{url}/classify", timeout=timeout_ms)
    await page.get_by_role("tab", name="Upload").click(timeout=timeout_ms)
    await page.locator(FILE_INPUT).wait_for(state="attached", timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    return page


@dataclass
class Schedule:
    """When the measured window starts and ends; set once every session has opened its page."""

    go: asyncio.Event = field(default_factory=asyncio.Event)
    start: float = 0.0
    stop: float = 0.0


async def classify_session(session: int, context, url: str, samples: list[SampleImage], result: LoadResult,
                           schedule: Schedule, ready: asyncio.Event, timeout_ms: float) -> None:
    """Open Classify, wait for the start, then upload the samples in turn until the end of the window."""
    js_errors: list[str] = []
    try:
        page = await open_classify(context, url, timeout_ms)
    except Exception as exc:  # noqa: BLE001 - counted, not raised: one broken session must not end the test
        result.errors.append(f"session {session}: could not open Classify: {type(exc).__name__}: {exc}"[:400])
        ready.set()
        return
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    turn = session  # sessions start on different images
    try:  # one unmeasured classification: the first loads the model into the server
        warm = samples[(turn + 1) % len(samples)]
        await page.set_input_files(FILE_INPUT, str(warm.path), timeout=timeout_ms)
        await page.wait_for_function(PREDICTION_IS_JS, arg=warm.expected_text, polling=100, timeout=timeout_ms)
        await wait_idle(page, timeout_ms)
    except Exception as exc:  # noqa: BLE001
        shown = await _safe_eval(page, PREDICTION_JS)
        result.errors.append(f"session {session}: warm-up classification failed ({type(exc).__name__}; "
                             f"expected {warm.expected_text!r}, page shows {shown!r})")
    ready.set()
    await schedule.go.wait()
    while time.monotonic() < schedule.stop:
        sample = samples[turn % len(samples)]
        turn += 1
        started = time.monotonic()
        error = None
        try:
            await page.set_input_files(FILE_INPUT, str(sample.path), timeout=timeout_ms)
            await page.wait_for_function(PREDICTION_IS_JS, arg=sample.expected_text, polling=50, timeout=timeout_ms)
        except Exception as exc:  # noqa: BLE001
            shown = await _safe_eval(page, PREDICTION_JS)
            error = f"{type(exc).__name__}: expected {sample.expected_text!r}, page shows {shown!r}"
        finished = time.monotonic()
        settled = None
        if error is None:  # a user looks at the whole result before the next upload
            try:
                await wait_idle(page, timeout_ms)
                settled = time.monotonic()
            except Exception as exc:  # noqa: BLE001
                error = f"the page did not settle after showing the prediction ({type(exc).__name__})"
        problems = await page_problems(page) + [f"JavaScript error: {e}" for e in js_errors]
        js_errors.clear()
        if problems and error is None:
            error = "; ".join(problems)
        result.classifications.append(Classification(session, started, finished, error is None, error, settled))
        if error is not None:
            result.errors.append(f"session {session}: {error}"[:400])
            if len(result.errors) > 50:
                return
            with contextlib.suppress(Exception):  # a fresh page for the next try
                await page.close()
                page = await open_classify(context, url, timeout_ms)
                page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    with contextlib.suppress(Exception):
        await wait_idle(page, timeout_ms)
        await page.close()


async def _safe_eval(page, script: str):
    try:
        return await page.evaluate(script)
    except Exception:  # noqa: BLE001
        return None


async def training_sessions(browser, url: str, result: LoadResult, schedule: Schedule, ready: asyncio.Event,
                            start_fraction: float, train_images: int, timeout_ms: float) -> None:
    """One session starts a 1-epoch job start_fraction into the window; a second session, whose page was
    drawn before the job started, then asks to train too and must be told the server is busy."""
    check = result.training = TrainingCheck()
    trainer_ctx = await browser.new_context(viewport=VIEWPORT)
    other_ctx = await browser.new_context(viewport=VIEWPORT)
    try:
        trainer = await trainer_ctx.new_page()
        other = await other_ctx.new_page()
        for page in (trainer, other):
            await page.goto(f"{url}/training", timeout=timeout_ms)
            await page.get_by_role("button", name="Start training").wait_for(timeout=timeout_ms)
            await wait_idle(page, timeout_ms)
        await set_training_form(trainer, epochs=1, train_images=train_images, timeout_ms=timeout_ms)
    except Exception as exc:  # noqa: BLE001
        check.error = f"could not prepare the Training page: {type(exc).__name__}: {exc}"[:400]
        result.errors.append("training check: " + check.error)
        ready.set()
        await trainer_ctx.close()
        await other_ctx.close()
        return
    ready.set()
    await schedule.go.wait()
    stop_at = schedule.stop
    try:
        while time.monotonic() < schedule.start + start_fraction * (schedule.stop - schedule.start):
            await asyncio.sleep(0.1)
        await trainer.get_by_role("button", name="Start training").click(timeout=timeout_ms)
        await trainer.get_by_role("heading", name=TRAINING_NOW).wait_for(timeout=timeout_ms)
        check.started, check.start_time = True, time.monotonic()
        # The second session's page was drawn before the job started, so its button is still enabled.
        await other.get_by_role("button", name="Start training").click(timeout=timeout_ms)
        busy = other.get_by_text(BUSY_PATTERN).first
        await busy.wait_for(timeout=timeout_ms)
        check.busy_message = (await busy.inner_text()).strip()
        problems = await page_problems(other)
        if problems:  # the friendly TrainingBusyError box is expected here; exceptions are not
            problems = [p for p in problems if not BUSY_PATTERN.search(p)]
        if problems:
            result.errors.append("training check (second session): " + "; ".join(problems))
        finished = trainer.get_by_text(re.compile(r"Run `?\S+`? (finished|was stopped early)"))
        while time.monotonic() < stop_at:
            if await trainer.get_by_role("heading", name="Last training run").count():
                check.finished_in_test = True
                break
            await asyncio.sleep(0.25)
        check.end_time = time.monotonic() if check.finished_in_test else None
        check.progress_text = await _safe_eval(
            trainer, "() => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
                     " return p ? p.innerText.trim() : null; }")
        if check.finished_in_test and not await finished.count():
            problems = await page_problems(trainer)
            result.errors.append("training check: the job ended without a success message: " + "; ".join(problems))
        for problem in await page_problems(trainer):
            result.errors.append("training check (trainer): " + problem)
    except Exception as exc:  # noqa: BLE001
        check.error = f"{type(exc).__name__}: {exc}"[:400]
        result.errors.append("training check: " + check.error)
    finally:
        await trainer_ctx.close()
        await other_ctx.close()


async def set_training_form(page, *, epochs: int, train_images: int, timeout_ms: float) -> None:
    """Epochs and a training subset on the Training page's form (the default preset otherwise)."""
    await _fill_number(page, "Epochs", epochs, timeout_ms)
    toggle = page.locator('[data-testid="stCheckbox"]').filter(has_text="Train on a subset")
    if not await toggle.locator('input[type="checkbox"]').is_checked():
        await toggle.locator("label").click(timeout=timeout_ms)
        await wait_idle(page, timeout_ms)
    await _fill_number(page, "Training images", train_images, timeout_ms)


async def _fill_number(page, label: str, value: int, timeout_ms: float) -> None:
    box = page.get_by_label(label, exact=True)
    await box.wait_for(timeout=timeout_ms)
    await box.fill(str(value), timeout=timeout_ms)
    await box.press("Enter", timeout=timeout_ms)
    await page.wait_for_function(
        "([el, v]) => el.value === v", arg=[await box.element_handle(), str(value)], timeout=timeout_ms)
    await wait_idle(page, timeout_ms)


async def run_load(url: str, samples: list[SampleImage], *, sessions: int, seconds: float, model: str,
                   training: bool = True, train_images: int = 10_000, timeout_s: float = 60.0) -> LoadResult:
    """Drive an already running app; see the module docstring."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    result = LoadResult(sessions, seconds, url, model, [f"{s.label} (test #{s.test_index})" for s in samples])
    timeout_ms = timeout_s * 1000
    setup_started = time.monotonic()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_kwargs())
        try:
            contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(sessions)]
            schedule = Schedule()
            readies = [asyncio.Event() for _ in range(sessions)]
            tasks = [asyncio.create_task(classify_session(i, contexts[i], url, samples, result, schedule, readies[i],
                                                          timeout_ms)) for i in range(sessions)]
            if training:
                readies.append(asyncio.Event())
                tasks.append(asyncio.create_task(training_sessions(
                    browser, url, result, schedule, readies[-1], 0.2, train_images, timeout_ms)))
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=timeout_s * 3)
            result.setup_seconds = time.monotonic() - setup_started
            now = time.monotonic()
            schedule.start, schedule.stop = now, now + seconds
            result.measured_from = now
            schedule.go.set()
            await asyncio.gather(*tasks)
            result.measured_to = max([now + seconds] + [c.finished for c in result.classifications])
        finally:
            await browser.close()
    return result


# ---------------------------------------------------------------- the whole run
def run_load_test(*, sessions: int = 10, seconds: float = 60.0, training: bool = True, train_images: int = 10_000,
                  work_dir: str | Path | None = None, timeout_s: float = 60.0,
                  copy_run_from: str | Path | None = None, server_args: list[str] | tuple[str, ...] = ()) -> LoadResult:
    """Start the app with a fresh runs folder, make sure it has a model, and run the load test against it."""
    reason = browser_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    _ensure_data_dir()
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fmnist-load-"))
        work = Path(work_dir)
        runs_dir = work / "runs"
        run = ensure_active_model(runs_dir, copy_run_from=copy_run_from)
        samples = pick_two_samples(run, work / "samples")
        server = stack.enter_context(AppServer(runs_dir, log_path=work / "streamlit.log", extra_args=server_args))
        try:
            result = asyncio.run(run_load(server.url, samples, sessions=sessions, seconds=seconds,
                                          model=f"{run.run_id} ({run.architecture}, "
                                                f"{100 * (run.test_accuracy or 0):.2f}% test accuracy)",
                                          training=training, train_images=train_images, timeout_s=timeout_s))
            for problem in server_exceptions(server.log_tail(5_000_000)):
                result.errors.append("the server logged an exception: " + problem)
            return result
        except BaseException:
            sys.stderr.write("---- streamlit log (tail) ----\n" + server.log_tail() + "\n")
            raise


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


def _ensure_data_dir() -> None:
    if not os.environ.get("FMNIST_DATA_DIR"):
        candidate = (PROJECT_DIR.parent / "shared" / "data" / "fashion-mnist").resolve()
        if candidate.is_dir():
            os.environ["FMNIST_DATA_DIR"] = str(candidate)


def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def report(result: LoadResult) -> str:
    s = result.summary()
    lines = [
        f"Sessions: {s['sessions']} classifying for {s['seconds']:.0f} s (model {result.model})",
        f"Samples: {', '.join(result.samples)}",
        f"Classifications: {s['classifications']}   errors: {s['errors']}",
        f"Latency (upload -> prediction visible): p50 {_fmt_s(s['p50_s'])}, p99 {_fmt_s(s['p99_s'])}, "
        f"max {_fmt_s(s['max_s'])}; p50 until the whole page has rendered {_fmt_s(s['p50_settled_s'])}",
        f"Throughput: {s['throughput_per_s']:.2f} classifications/s",
    ]
    t = result.training
    if t is not None:
        if t.started and "training_window_s" not in s:
            lines.append("The training job started only after the measured window (the app was too slow to start it)")
        elif t.started:
            lines.append(
                f"During training ({s['training_window_s']:.0f} s, job "
                f"{'finished' if t.finished_in_test else 'still running'} at the end): {s['classifications_during_training']} classifications, "
                f"p50 {_fmt_s(s['p50_during_training_s'])}, p99 {_fmt_s(s['p99_during_training_s'])}, "
                f"{s['throughput_during_training_per_s']:.2f}/s (p50 {_fmt_s(s['p50_without_training_s'])} "
                f"outside it)")
            lines.append(f"Second training request was told: {t.busy_message!r}")
            if not t.finished_in_test and t.progress_text:
                lines.append(f"Training progress at the end: {t.progress_text}")
        else:
            lines.append(f"Training check did not start: {t.error}")
    for error in result.errors[:10]:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


def record(result: LoadResult, command: str, path: Path = RESULTS_PATH) -> None:
    """Append one Markdown section to RESULTS.md (never rewrites what is there)."""
    s = result.summary()
    cpu_model, cores, load = _machine()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        ("Date", when),
        ("Machine", f"{cpu_model}, {cores} usable CPU cores, load average {load} at the end; {platform.platform()}"),
        ("Command", f"`{command}`"),
        ("Model", result.model),
        ("Sessions", f"{s['sessions']} browser sessions (Chromium contexts) on the Classify page"),
        ("Duration", f"{s['seconds']:.0f} s measured (after {result.setup_seconds:.0f} s opening the sessions)"),
        ("Classifications", str(s["classifications"])),
        ("Latency p50 / p99 / max", f"{_fmt_s(s['p50_s'])} / {_fmt_s(s['p99_s'])} / {_fmt_s(s['max_s'])} "
                                    "(upload to prediction visible)"),
        ("Latency to full render, p50", f"{_fmt_s(s['p50_settled_s'])} (upload to app idle again)"),
        ("Throughput", f"{s['throughput_per_s']:.2f} classifications/s"),
        ("Errors", str(s["errors"])),
    ]
    t = result.training
    if t is not None and t.started and "training_window_s" in s:
        rows += [
            ("During training", f"{s['classifications_during_training']} classifications in "
                                f"{s['training_window_s']:.0f} s (job "
                                f"{'finished' if t.finished_in_test else 'still running at the end'}); "
                                f"p50 {_fmt_s(s['p50_during_training_s'])}, p99 {_fmt_s(s['p99_during_training_s'])} "
                                f"(p50 {_fmt_s(s['p50_without_training_s'])} outside it)"),
            ("Second training request", f"told: \"{t.busy_message}\""),
        ]
    elif t is not None and t.started:
        rows.append(("Training check", "the job started only after the measured window"))
    elif t is not None:
        rows.append(("Training check", f"did not run: {t.error}"))
    section = [f"\n## App load test ({when})\n", "| | |", "|---|---|"]
    section += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    if result.errors:
        section.append("\nFirst errors:\n")
        section += [f"- {e}" for e in result.errors[:5]]
    text = "\n".join(section) + "\n"
    if not path.exists():
        path.write_text(RESULTS_HEADER)
    with path.open("a") as handle:
        handle.write(text)


def _machine() -> tuple[str, int, str]:
    try:
        from benchmarks.machine import collect  # noqa: PLC0415 - the shared machine description

        info = collect()
        load = info.load_line().split(" (")[0]
        return info.cpu_model, info.usable_cpus, load
    except Exception:  # noqa: BLE001
        cpu = "unknown"
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        return cpu, len(os.sched_getaffinity(0)), " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="simultaneous browser sessions classifying (>= 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they classify")
    parser.add_argument("--record", action="store_true", help="append the results to benchmarks/RESULTS.md")
    parser.add_argument("--no-training", action="store_true", help="skip the concurrent training / busy check")
    parser.add_argument("--train-images", type=int, default=10_000, help="training subset of the concurrent job")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one classification may take")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra `streamlit run` option for the server (repeatable), e.g. "
                             "--server-arg=--runner.postScriptGC=false; .streamlit/config.toml applies otherwise")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0:
        parser.error("--sessions must be >= 1 and --seconds > 0")
    result = run_load_test(sessions=args.sessions, seconds=args.seconds, training=not args.no_training,
                           train_images=args.train_images, timeout_s=args.timeout, server_args=args.server_arg)
    print(report(result))
    if args.record:
        command = "python -m benchmarks.load_test " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        record(result, command.strip())
        print(f"Recorded in {RESULTS_PATH.relative_to(PROJECT_DIR)}")
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

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

In the same run (unless ``--no-training``) one extra session submits a training job on the
Training page a fifth of the way in (the engine, started before the window, trains it in a
worker process), and a second extra session then submits too and must be queued behind it:
the report says whether the classifiers kept working while the job ran (classifications
completed during it, their latency) and what the second session saw of its queued job.

``--record`` appends a section to benchmarks/RESULTS.md (append only; other benchmarks
write there too). The server, browser and sample-image helpers live in devtools/ (shared with the
browser tests and the app benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.app_models import SampleImage, ensure_active_model, pick_two_samples
from devtools.browser import (
    ERROR_BOX,
    EXCEPTION,
    FILE_INPUT,
    FINISHED_PATTERN,
    PREDICTION_IS_JS,
    PREDICTION_JS,
    SETTLED_JS,
    SUBMITTED_PATTERN,
    VIEWPORT,
    AppServer,
    browser_unavailable_reason,
    launch_kwargs,
    server_exceptions,
)

from . import PROJECT_DIR, ensure_data_dir
from .stats import percentile as _percentile

RESULTS_PATH = PROJECT_DIR / "benchmarks" / "RESULTS.md"
#: The queue panel's progress text of a job that is training (ui/jobs_panel.py).
TRAINING_PROGRESS = re.compile(r"Epoch \d+ of \d+ · batch \d+ of \d+")
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Sections are appended by the benchmark scripts (`python -m benchmarks`, `python -m benchmarks.load_test "
    "--record`); each states the machine and the command that produced it.\n"
)


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
    submitted: bool = False  # the first session's job was queued
    job_id: str | None = None
    started: bool = False  # it was seen training (start_time: when)
    start_time: float | None = None
    end_time: float | None = None
    finished_in_test: bool = False
    queued_message: str | None = None  # what the second session saw of its own job (queued behind)
    second_cancelled: str | None = None
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
                second_session_queued=self.training.queued_message,
                training_finished=self.training.finished_in_test,
            )
            outside = sorted(c.latency for c in self.completed if not window[0] <= c.finished <= window[1])
            out.update(classifications_without_training=len(outside), p50_without_training_s=percentile(outside, 50))
        return out


def percentile(sorted_values: list[float], q: float) -> float | None:
    """benchmarks.stats.percentile, or None for no values (the report prints a dash)."""
    return _percentile(sorted_values, q) if sorted_values else None


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
    """One session submits a 1-epoch job start_fraction into the window; a second session then submits
    one too and must be queued behind it (one job trains at a time), not refused; it then cancels its
    queued job, so the window measures the classifiers under exactly one training job."""
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
        for page in (trainer, other):
            await set_training_form(page, epochs=1, train_images=train_images, timeout_ms=timeout_ms)
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
        submitted = trainer.get_by_text(SUBMITTED_PATTERN).first
        await submitted.wait_for(timeout=timeout_ms)
        check.job_id = SUBMITTED_PATTERN.search(await submitted.inner_text()).group(1)
        check.submitted = True
        # The second session submits as well: its job must be queued behind the first, never refused.
        await other.get_by_role("button", name="Start training").click(timeout=timeout_ms)
        other_submitted = other.get_by_text(SUBMITTED_PATTERN).first
        await other_submitted.wait_for(timeout=timeout_ms)
        other_job = SUBMITTED_PATTERN.search(await other_submitted.inner_text()).group(1)
        queued = other.get_by_text(re.compile(r"#\d+ in the queue · .* · by you")).first
        await queued.wait_for(timeout=timeout_ms)
        check.queued_message = (await queued.inner_text()).strip()
        for problem in await page_problems(other):
            result.errors.append("training check (second session): " + problem)
        await other.get_by_role("button", name="Cancel").first.click(timeout=timeout_ms)
        check.second_cancelled = other_job
        # The first job trains once the engine's worker has loaded the data and built the model.
        await trainer.get_by_text(TRAINING_PROGRESS).first.wait_for(timeout=timeout_ms * 3)
        check.started, check.start_time = True, time.monotonic()
        finished = trainer.get_by_text(FINISHED_PATTERN)
        while time.monotonic() < stop_at:
            if await finished.count():
                check.finished_in_test = True
                break
            await asyncio.sleep(0.25)
        check.end_time = time.monotonic() if check.finished_in_test else None
        check.progress_text = await _safe_eval(
            trainer, "() => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
                     " return p ? p.innerText.trim() : null; }")
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
    # A number input: the sweep form's text field of the same name ("Epochs") is not this one.
    box = page.locator('[data-testid="stNumberInput"]').get_by_label(label, exact=True)
    await box.wait_for(timeout=timeout_ms)
    await box.fill(str(value), timeout=timeout_ms)
    await box.press("Enter", timeout=timeout_ms)
    await page.wait_for_function(
        "([el, v]) => el.value === v", arg=[await box.element_handle(), str(value)], timeout=timeout_ms)
    await wait_idle(page, timeout_ms)


async def run_load(url: str, samples: list[SampleImage], *, sessions: int, seconds: float, model: str,
                   training: bool = True, train_images: int = 10_000, timeout_s: float = 60.0) -> LoadResult:
    """Drive an already running app; see the module docstring."""
    from playwright.async_api import async_playwright

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
    ensure_data_dir()
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fmnist-load-"))
        work = Path(work_dir)
        runs_dir = work / "runs"
        run = ensure_active_model(runs_dir, copy_run_from=copy_run_from)
        samples = pick_two_samples(run, work / "samples")
        server = stack.enter_context(AppServer(runs_dir, log_path=work / "streamlit.log", extra_args=server_args))
        if training:
            _start_engine(runs_dir, stack)
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


def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _start_engine(runs_dir: Path, stack: contextlib.ExitStack) -> None:
    """Start the training engine (Ray) before the window, as a server that already trained once has it;
    it outlives the web server by design, so it is shut down when the run ends."""
    from fmnist_core.engine import Engine, EngineSettings

    engine = Engine(EngineSettings.from_env(runs_dir))
    stack.callback(engine.shutdown, 90)
    engine.ensure_running()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not engine.status().ready:
        time.sleep(0.5)
    if not engine.status().ready:
        raise RuntimeError(f"the training engine did not start: {engine.status().message}")


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
            lines.append("The job began training only after the measured window (worker start-up: data and model)")
        elif t.started:
            lines.append(
                f"During training ({s['training_window_s']:.0f} s, job "
                f"{'finished' if t.finished_in_test else 'still running'} at the end): "
                f"{s['classifications_during_training']} classifications, "
                f"p50 {_fmt_s(s['p50_during_training_s'])}, p99 {_fmt_s(s['p99_during_training_s'])}, "
                f"{s['throughput_during_training_per_s']:.2f}/s (p50 {_fmt_s(s['p50_without_training_s'])} "
                f"outside it)")
            lines.append(f"Second session's job was queued: {t.queued_message!r} (then cancelled)")
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
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
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
            ("Second session's job", f"queued: \"{t.queued_message}\" (then cancelled)"),
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
        from benchmarks.machine import collect

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
    parser.add_argument("--no-training", action="store_true", help="skip the concurrent training / queue check")
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

"""Queue load run (issue #16 items 7 and 8): N browser sessions each submit one small training job at
(nearly) the same moment on the Training page, and the run waits until every job has ended.

    python -m benchmarks.queue_load [--sessions 10] [--train-images 500] [--record]

It starts ``streamlit run app.py`` on a free port with a temporary runs folder (devtools.browser.AppServer),
opens one Chromium with one browser context per session (independent Streamlit sessions, each its own
submitter label), and in each: picks the seed preset (no batch norm, so one epoch on a small subset
learns), 1 epoch, a training subset; then all sessions press Start together. Each session then watches
its own row of the queue panel ("#N in the queue · ... · by you", then "Training ...", then
"<job id> completed: ...") until its job has ended. What each session saw is recorded, and from the
engine's queue files: the submission order, when each job's worker started and finished, so the
per-job queue wait (submit to its worker starting) and the total time (first Start to the last job
finished). An error is an exception or error box on a page, a JavaScript error, a job that did not
complete, a session that did not see its job end, or a server traceback.

The engine starts on the first submission (cold, as on a fresh server) unless ``--warm-engine`` starts
it before the sessions press Start. tests/test_engine_browser.py runs this with 3 sessions and checks
order and positions; the benchmark (``python -m benchmarks --jobs``) runs it with 10.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.browser import (
    SUBMITTED_PATTERN,
    VIEWPORT,
    AppServer,
    browser_unavailable_reason,
    launch_kwargs,
    server_exceptions,
)

from . import DEFAULT_RESULTS, ensure_data_dir
from .load_test import page_problems, set_training_form, wait_idle

#: The preset picker's seed button ("Seed", or "Report" if renamed), as tests/test_e2e_browser.py finds it.
SEED_PRESET = re.compile(r"^(Seed|Report)$")
#: The queue panel's caption: "You are **guest-1a2b**. <engine status>".
LABEL_PATTERN = re.compile(r"You are (\S+?)\. ")
OWN_QUEUED = re.compile(r"^#(\d+) in the queue · ")
#: JavaScript: the live (not stale) markdown texts of this session's own queue rows ("... · by you").
OWN_ROWS_JS = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
  .filter(e => !e.closest('[data-stale="true"]'))
  .map(e => e.textContent.replace(/\\s+/g, ' ').trim())
  .filter(t => / · by you( · |$)/.test(t))"""
CAPTION_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
  .map(e => e.textContent.replace(/\\s+/g, ' ').trim()).find(t => t.startsWith('You are ')) || null"""
POLL_S = 0.25
#: Sessions opening the Training page at once while the run is prepared (only Start is pressed together):
#: ten first visits at once on 2 loaded cores took over a minute each.
PREPARE_AT_ONCE = 2


@dataclass
class SessionView:
    """What one browser session did and saw of its own job."""

    session: int
    label: str | None = None  # its submitter label, from the queue panel's caption
    clicked_at: float | None = None  # time.time() when it pressed Start
    job_id: str | None = None
    submitted_position: int | None = None  # the note after Start: "position N in the queue" (None: "starting")
    positions_seen: list[int] = field(default_factory=list)  # its "#N in the queue" row, changes in order seen
    saw_training: bool = False  # its "Training ..." row with a progress bar
    finished_status: str | None = None  # "completed", "stopped", ... as its finished row said
    finished_seen_at: float | None = None
    error: str | None = None


@dataclass
class QueueLoadResult:
    sessions: int
    train_images: int
    warm_engine: bool
    views: list[SessionView] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)  # the engine's records, in submission order
    errors: list[str] = field(default_factory=list)
    setup_seconds: float = 0.0
    ray_start_seconds: float | None = None

    def view_of(self, job_id: str) -> SessionView | None:
        return next((v for v in self.views if v.job_id == job_id), None)

    @property
    def submission_order(self) -> list[str]:
        return [job["job_id"] for job in self.jobs]

    def summary(self) -> dict[str, Any]:
        jobs = self.jobs
        clicks = [v.clicked_at for v in self.views if v.clicked_at is not None]
        finished = [j["finished_at"] for j in jobs if j.get("finished_at")]
        started = [j["started_at"] for j in jobs if j.get("started_at")]
        waits = [j["started_at"] - j["created_ns"] / 1e9 for j in jobs if j.get("started_at")]
        return {
            "sessions": self.sessions,
            "jobs": len(jobs),
            "completed": sum(1 for j in jobs if j["status"] == "completed"),
            "errors": len(self.errors),
            "total_s": (max(finished) - min(clicks)) if finished and clicks else None,
            "submit_spread_s": (max(clicks) - min(clicks)) if clicks else None,
            # When the submissions reached the queue (the server runs each session's Start in turn).
            "queued_spread_s": ((max(j["created_ns"] for j in jobs) - min(j["created_ns"] for j in jobs)) / 1e9
                                if jobs else None),
            "saw_own_job_end": sum(1 for v in self.views if v.saw_training and v.finished_status == "completed"),
            "note_position_is_rank": sum(1 for rank, job in enumerate(jobs, 1)
                                         if (v := self.view_of(job["job_id"])) and v.submitted_position == rank),
            "wait_median_s": statistics.median(waits) if waits else None,
            "wait_max_s": max(waits) if waits else None,
            "waits_s": waits,
            "started_in_order": bool(jobs) and len(started) == len(jobs) and started == sorted(started),
            "finished_in_order": bool(jobs) and len(finished) == len(jobs) and finished == sorted(finished),
            "train_s_median": statistics.median([j["finished_at"] - j["started_at"] for j in jobs
                                                 if j.get("finished_at") and j.get("started_at")] or [0.0]),
        }


# ---------------------------------------------------------------- one session (async Playwright)
async def prepare_session(context, url: str, train_images: int, timeout_ms: float):
    """Open Training, pick the seed preset, 1 epoch on a subset; return the page (Start not pressed)."""
    page = await context.new_page()
    await page.goto(f"{url}/training", timeout=timeout_ms)
    await page.get_by_role("button", name="Start training").wait_for(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    await page.locator('[data-testid="stButtonGroup"]').get_by_role("radio", name=SEED_PRESET).click(
        timeout=timeout_ms)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('input[role=\"combobox\"]')].some(e => e.value === 'Seed report CNN')",
        timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    await set_training_form(page, epochs=1, train_images=train_images, timeout_ms=timeout_ms)
    return page


async def submit_and_watch(view: SessionView, page, go: asyncio.Event, timeout_ms: float,
                           job_timeout_s: float) -> None:
    """Press Start when `go` is set, then follow this session's own row until its job has ended."""
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    view.label = await page.evaluate(CAPTION_JS)
    if view.label:
        found = LABEL_PATTERN.match(view.label + " ")
        view.label = found.group(1) if found else view.label
    await go.wait()
    view.clicked_at = time.time()
    await page.get_by_role("button", name="Start training").click(timeout=timeout_ms)
    note = page.get_by_text(SUBMITTED_PATTERN).first
    await note.wait_for(timeout=timeout_ms)
    match = SUBMITTED_PATTERN.search(await note.inner_text())
    view.job_id = match.group(1)
    view.submitted_position = int(match.group(2)) if match.group(2) else None
    ended = re.compile(rf"^{re.escape(view.job_id)} (completed|stopped|failed|cancelled|interrupted)\b")
    deadline = time.monotonic() + job_timeout_s
    while time.monotonic() < deadline:
        rows = await page.evaluate(OWN_ROWS_JS)
        for text in rows:
            queued = OWN_QUEUED.match(text)
            if queued and (not view.positions_seen or view.positions_seen[-1] != int(queued.group(1))):
                view.positions_seen.append(int(queued.group(1)))
            if text.startswith("Training "):
                view.saw_training = True
            done = ended.match(text)
            if done:
                view.finished_status, view.finished_seen_at = done.group(1), time.time()
        if view.finished_status:
            break
        await asyncio.sleep(POLL_S)
    else:
        raise TimeoutError(f"the session did not see its job {view.job_id} end in {job_timeout_s:.0f} s")
    with contextlib.suppress(Exception):
        await wait_idle(page, timeout_ms)
    problems = await page_problems(page) + [f"JavaScript error: {e}" for e in js_errors]
    if problems:
        raise RuntimeError("; ".join(problems))


async def drive_sessions(url: str, *, sessions: int, train_images: int, timeout_s: float,
                         job_timeout_s: float) -> tuple[list[SessionView], list[str], float]:
    """Prepare every session, press Start in all of them at once, follow each to its job's end."""
    from playwright.async_api import async_playwright

    views = [SessionView(i) for i in range(sessions)]
    errors: list[str] = []
    timeout_ms = timeout_s * 1000
    started = time.monotonic()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_kwargs())
        try:
            contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(sessions)]
            gate = asyncio.Semaphore(PREPARE_AT_ONCE)

            async def prepare(context):
                async with gate:
                    return await prepare_session(context, url, train_images, timeout_ms)

            pages = await asyncio.gather(*(prepare(c) for c in contexts), return_exceptions=True)
            setup = time.monotonic() - started
            broken = [(i, p) for i, p in enumerate(pages) if isinstance(p, BaseException)]
            for i, exc in broken:
                errors.append(f"session {i}: could not prepare the Training page: {_first_line(exc)}")
            if broken:
                return views, errors, setup
            go = asyncio.Event()
            tasks = [asyncio.create_task(submit_and_watch(views[i], pages[i], go, timeout_ms, job_timeout_s))
                     for i in range(sessions)]
            go.set()
            for i, outcome in enumerate(await asyncio.gather(*tasks, return_exceptions=True)):
                if isinstance(outcome, BaseException):
                    views[i].error = _first_line(outcome)
                    errors.append(f"session {i}: {views[i].error}")
        finally:
            await browser.close()
    return views, errors, setup


def _first_line(exc: BaseException) -> str:
    """The exception in one line (Playwright appends a multi-line call log)."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:400]


# ---------------------------------------------------------------- the whole run
def run_queue_load(*, sessions: int = 10, train_images: int = 500, warm_engine: bool = False,
                   work_dir: str | Path | None = None, timeout_s: float = 120.0,
                   job_timeout_s: float = 900.0) -> QueueLoadResult:
    """Start the app with a fresh runs folder and its own engine, run the sessions, stop both."""
    from fmnist_core.engine import Engine, EngineSettings

    reason = browser_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    ensure_data_dir()
    result = QueueLoadResult(sessions, train_images, warm_engine)
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fmnist-queue-load-"))
        runs = Path(work_dir) / "runs"
        # A session's queue limit is per label, so the N sessions never hit it.
        engine = Engine(EngineSettings.from_env(runs))
        stack.callback(engine.shutdown, 90)  # the engine outlives the web server by design
        server = stack.enter_context(AppServer(runs, log_path=Path(work_dir) / "streamlit.log",
                                               env={"FMNIST_WARM_UP": "0"}))
        if warm_engine:
            engine.ensure_running()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not engine.status().ready:
                time.sleep(0.5)
        try:
            views, errors, setup = asyncio.run(drive_sessions(
                server.url, sessions=sessions, train_images=train_images, timeout_s=timeout_s,
                job_timeout_s=job_timeout_s))
        except BaseException:
            sys.stderr.write("---- streamlit log (tail) ----\n" + server.log_tail() + "\n")
            raise
        result.views, result.errors, result.setup_seconds = views, errors, setup
        result.jobs = [job.to_dict() for job in engine.jobs()]
        result.ray_start_seconds = engine.status().ray_start_seconds
        for job in result.jobs:
            if job["status"] != "completed":
                result.errors.append(f"job {job['job_id']} ended {job['status']}: {job.get('error')}")
        for view in views:
            if view.job_id and view.job_id not in result.submission_order:
                result.errors.append(f"session {view.session}: its job {view.job_id} is not in the queue files")
        for problem in server_exceptions(server.log_tail(5_000_000)):
            result.errors.append("the server logged an exception: " + problem)
    return result


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def report(result: QueueLoadResult) -> str:
    s = result.summary()
    engine = "started before" if result.warm_engine else "cold: started by the first submission"
    if result.ray_start_seconds is not None:
        engine += f", Ray start {result.ray_start_seconds:.1f} s"
    lines = [
        f"{s['sessions']} browser sessions each submitted one job (seed preset, 1 epoch, "
        f"{result.train_images:,} images; engine {engine}); "
        f"Start pressed within {_s(s['submit_spread_s'])} after {result.setup_seconds:.0f} s preparing the pages",
        f"Jobs: {s['completed']} of {s['jobs']} completed, errors {s['errors']}; total {_s(s['total_s'])} "
        f"(first Start to the last job finished); training per job median {_s(s['train_s_median'])}",
        f"Queue wait (submit to the worker starting): median {_s(s['wait_median_s'])}, max {_s(s['wait_max_s'])}; "
        f"started in submission order: {s['started_in_order']}, finished in order: {s['finished_in_order']}",
    ]
    for rank, job_id in enumerate(result.submission_order, 1):
        view = result.view_of(job_id)
        if view is not None:
            lines.append(f"  {rank}. {job_id} by {view.label}: note said position {view.submitted_position}, "
                         f"rows showed #{view.positions_seen}, training seen {view.saw_training}, "
                         f"ended {view.finished_status}")
    lines += [f"  error: {e}" for e in result.errors[:10]]
    return "\n".join(lines)


def markdown(result: QueueLoadResult, command: str, load_before: str) -> str:
    """One RESULTS.md section, with the machine and the load average beside the figures."""
    from .machine import collect

    machine = collect()
    s = result.summary()
    waits = ", ".join(f"{w:.1f}" for w in s["waits_s"])
    rows = [
        ("Command", f"`{command}`"),
        ("Machine", f"{machine.cpu_line()}; load average {load_before} before, {machine.load_line()} after"),
        ("Sessions", f"{s['sessions']} browser sessions (Chromium contexts), each submitting one job from the Training "
                     f"page (seed preset, 1 epoch, {result.train_images:,} images): Start pressed within "
                     f"{_s(s['submit_spread_s'])}, the jobs queued within {_s(s['queued_spread_s'])}"),
        ("What each session saw", f"its note named its own job at its place in submission order: "
                                  f"{s['note_position_is_rank']} of {s['sessions']}; its own row training, then "
                                  f"completed: {s['saw_own_job_end']} of {s['sessions']}"),
        ("Engine", ("started before the sessions" if result.warm_engine else "cold: started by the first submission")
         + ("" if result.ray_start_seconds is None else f" (Ray start {result.ray_start_seconds:.1f} s)")),
        ("Jobs completed", f"{s['completed']} of {s['jobs']}"),
        ("Errors", str(s["errors"])),
        ("Total time", f"{_s(s['total_s'])} (first Start to the last job finished)"),
        ("Queue wait (submit to worker start)", f"median {_s(s['wait_median_s'])}, max {_s(s['wait_max_s'])}; "
                                                f"each in submission order: {waits} s"),
        ("Training per job (median)", _s(s["train_s_median"])),
        ("In order", f"started in submission order: {s['started_in_order']}; finished in order: "
                     f"{s['finished_in_order']}"),
    ]
    out = [f"\n## Queue load run ({machine.timestamp_utc})\n", "| | |", "|---|---|"]
    out += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
    if result.errors:
        out += ["", "First errors:", ""] + [f"- {e}" for e in result.errors[:5]]
    return "\n".join(out) + "\n"


def load_line() -> str:
    from .machine import collect

    return collect().load_line()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="browser sessions, one job each (default 10)")
    parser.add_argument("--train-images", type=int, default=500, help="training subset of each job (default 500)")
    parser.add_argument("--warm-engine", action="store_true", help="start the engine before the sessions submit")
    parser.add_argument("--record", action="store_true", help=f"append the section to {DEFAULT_RESULTS.name}")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be >= 1")
    before = load_line()
    result = run_queue_load(sessions=args.sessions, train_images=args.train_images, warm_engine=args.warm_engine)
    print(report(result))
    if args.record:
        from .report import append_results

        command = "python -m benchmarks.queue_load " + shlex.join(argv if argv is not None else sys.argv[1:])
        append_results(DEFAULT_RESULTS, markdown(result, command.strip(), before))
        print(f"appended to {DEFAULT_RESULTS}")
    return 0 if not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())

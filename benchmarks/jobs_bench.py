"""Issue #16's engine figures: Submit to first batch on a private local Ray (cold: no engine yet;
warm: engine and worker up) and a queue of N small jobs from N submitters (all complete, errors,
total time, queue wait). `python -m benchmarks.jobs_bench [--jobs N] [--record]`.

With --web: page-switch latency of `streamlit run app.py` in a real browser (benchmarks.app_bench),
idle and again while the engine trains a job on the same cores (issue #16: within 1.5x).
Not measured here (not done): classification latency under a job, and the 10-browser load run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from . import DEFAULT_RESULTS, ensure_data_dir

FIRST_BATCH_TIMEOUT = 600.0


def _small_config(train_limit: int = 500):
    from fmnist_core.augmentation import NO_AUGMENTATION
    from fmnist_core.config import preset

    return preset("seed").with_changes(augmentation=NO_AUGMENTATION, epochs=1, batch_size=32, train_limit=train_limit)


def time_to_first_batch(engine, submitter: str) -> tuple[float, str]:
    """Seconds from submit() to the worker's first reported batch; the job id."""
    started = time.perf_counter()
    job = engine.submit(_small_config(), submitter)
    deadline = time.monotonic() + FIRST_BATCH_TIMEOUT
    while time.monotonic() < deadline:
        current = engine.get(job.job_id)
        if current.state.batch > 0 or not current.status.active:
            return time.perf_counter() - started, job.job_id
        time.sleep(0.05)
    raise TimeoutError(f"job {job.job_id} reported no batch in {FIRST_BATCH_TIMEOUT}s")


def queue_run(engine, count: int) -> dict:
    submitted = {}
    started = time.perf_counter()
    for i in range(count):
        job = engine.submit(_small_config(), f"bench-{i}")
        submitted[job.job_id] = time.time()
    while any(engine.get(job_id).status.active for job_id in submitted):
        time.sleep(0.2)
    total = time.perf_counter() - started
    jobs = [engine.get(job_id) for job_id in submitted]
    waits = [j.state.started_at - submitted[j.job_id] for j in jobs if j.state.started_at]
    return {
        "jobs": count,
        "completed": sum(1 for j in jobs if j.status == "completed"),
        "errors": sum(1 for j in jobs if j.status != "completed"),
        "total_s": total,
        "wait_median_s": statistics.median(waits) if waits else None,
        "wait_max_s": max(waits) if waits else None,
        "in_order": [j.state.started_at for j in jobs] == sorted(j.state.started_at or 0 for j in jobs),
    }


def web_latency(engine) -> dict:
    """Median page switch idle, then while a long job trains in the engine's worker."""
    from .app_bench import run_app_benchmark

    # Two rounds over every page (about 16 switches each), not --quick's one or two: the median must hold.
    idle = run_app_benchmark(rounds=2, log=lambda _: None)
    long_job = engine.submit(_small_config(train_limit=4000).with_changes(epochs=50), "bench-load")
    deadline = time.monotonic() + FIRST_BATCH_TIMEOUT
    while engine.get(long_job.job_id).state.batch == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    busy = run_app_benchmark(rounds=2, log=lambda _: None)
    still_training = engine.get(long_job.job_id).status == "running"
    engine.cancel(long_job.job_id, "bench-load")
    engine.wait(long_job.job_id, timeout=FIRST_BATCH_TIMEOUT)
    ratio = (busy.switch_median_seconds / idle.switch_median_seconds
             if idle.switch_median_seconds and busy.switch_median_seconds else None)
    return {"idle_switch_s": idle.switch_median_seconds, "busy_switch_s": busy.switch_median_seconds,
            "ratio": ratio, "trained_throughout": still_training,
            "errors": (idle.error, busy.error, *idle.page_errors, *busy.page_errors)}


def run(count: int, web: bool = False) -> dict:
    from fmnist_core.engine import Engine, EngineSettings

    with tempfile.TemporaryDirectory(prefix="jobs-bench-") as runs:
        engine = Engine(EngineSettings(runs_root=Path(runs), queue_limit=max(3, count)))
        try:
            cold, job_id = time_to_first_batch(engine, "bench-cold")
            engine.wait(job_id, timeout=FIRST_BATCH_TIMEOUT)
            ray_start = engine.status().ray_start_seconds
            warm, job_id = time_to_first_batch(engine, "bench-warm")
            engine.wait(job_id, timeout=FIRST_BATCH_TIMEOUT)
            queue = queue_run(engine, count)
            web_result = web_latency(engine) if web else None
        finally:
            engine.shutdown(timeout=90)
    return {"cold_first_batch_s": cold, "ray_start_s": ray_start, "warm_first_batch_s": warm, "queue": queue,
            "web": web_result}


def markdown(result: dict) -> str:
    from .machine import collect

    q = result["queue"]
    machine = collect()
    return "\n".join([
        f"\n## Jobs engine ({machine.timestamp_utc}; {machine.cpu_line()}; load {machine.load_line()})\n",
        "| measure | value |", "|---|---|",
        f"| Submit to first batch, cold (engine start incl. Ray {result['ray_start_s']} s) | "
        f"{result['cold_first_batch_s']:.1f} s |",
        f"| Submit to first batch, warm | {result['warm_first_batch_s']:.1f} s |",
        f"| Queue: {q['jobs']} small jobs from {q['jobs']} submitters | "
        f"{q['completed']} completed, {q['errors']} errors, "
        f"{q['total_s']:.1f} s total, wait median {q['wait_median_s']:.1f} s / max {q['wait_max_s']:.1f} s, "
        f"started in order: {q['in_order']} |",
        *([_web_row(result["web"])] if result.get("web") else []),
    ]) + "\n"


def _web_row(web: dict) -> str:
    def ms(value):
        return f"{value * 1000:.0f} ms" if value is not None else "n/a"

    ratio = f"{web['ratio']:.2f}x" if web["ratio"] is not None else "n/a"
    errors = [e for e in web["errors"] if e]
    return (f"| Page switch (median), idle / while a job trains | {ms(web['idle_switch_s'])} / "
            f"{ms(web['busy_switch_s'])} = {ratio} (job trained throughout: {web['trained_throughout']}; "
            f"errors: {len(errors)}) |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs_bench", description=__doc__)
    parser.add_argument("--jobs", type=int, default=3, help="small jobs in the queue run (default 3)")
    parser.add_argument("--web", action="store_true", help="also time page switches idle and under a job (browser)")
    parser.add_argument("--record", action="store_true", help=f"append the table to {DEFAULT_RESULTS.name}")
    args = parser.parse_args(argv)
    ensure_data_dir()
    result = run(args.jobs, web=args.web)
    text = markdown(result)
    print(text)
    if args.record:
        with open(DEFAULT_RESULTS, "a") as handle:
            handle.write(text)
    return 0 if result["queue"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

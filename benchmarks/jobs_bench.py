"""Issue #16's engine figures: Submit to first batch on a private local Ray (cold: no engine yet;
warm: engine and worker up) and a queue of N small jobs from N submitters (all complete, errors,
total time, queue wait). `python -m benchmarks.jobs_bench [--jobs N] [--record]`.

With --web (issue #16 item 1: within 1.5x), idle and again while the engine trains one job on the same
cores: page-switch latency of `streamlit run app.py` in a real browser (benchmarks.app_bench), a
classification in the app (one browser session uploading test images: upload -> prediction visible,
benchmarks.load_test) and the Predictor call behind it (600x600 JPEG -> top-3, in this process).
The load run of browser sessions each submitting a job is benchmarks.queue_load; `python -m benchmarks
--jobs` runs both and records them.
"""

from __future__ import annotations

import argparse
import shlex
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


#: The job that keeps the cores busy while the web latencies are measured: far longer than the measuring
#: (about 300 batches an epoch), cancelled once they are done.
LONG_JOB = dict(train_limit=10_000, epochs=100)


def api_latency(calls: int = 100) -> list[float]:
    """Seconds per 600x600 JPEG's bytes -> top-3 through fmnist_core's Predictor (what the Classify page
    calls in the web process) with the shipped default model, after a warm-up."""
    from fmnist_core.data import load_dataset
    from fmnist_core.inference import Predictor

    from .inference_bench import load_inference_model, make_user_jpeg

    model, _ = load_inference_model(log=lambda _: None)
    predictor = Predictor(model)
    data = make_user_jpeg(load_dataset().x_test[0])
    for _ in range(5):
        predictor.classify_bytes(data)
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        _ = predictor.classify_bytes(data).top3
        seconds.append(time.perf_counter() - started)
    return seconds


def web_measures(classify_seconds: float) -> dict:
    """Page switches (median over two rounds of every page), classifications in the app (one browser
    session uploading test images for classify_seconds: upload -> prediction visible, median), and the
    Predictor call behind them (median)."""
    from .app_bench import run_app_benchmark
    from .load_test import run_load_test

    # Two rounds over every page (about 16 switches each), not --quick's one or two: the median must hold.
    switches = run_app_benchmark(rounds=2, log=lambda _: None)
    uploads = run_load_test(sessions=1, seconds=classify_seconds, training=False, timeout_s=60)
    api = api_latency()
    return {
        "switch_s": switches.switch_median_seconds, "switches": len(switches.switches),
        "classify_s": uploads.summary()["p50_s"], "classifications": len(uploads.completed),
        "api_s": statistics.median(api), "api_calls": len(api),
        "errors": [e for e in (switches.error, *switches.page_errors, *uploads.errors) if e],
    }


def web_latency(engine, classify_seconds: float = 30.0) -> dict:
    """Issue #16 item 1: the web latencies idle, then again while one long job trains in the engine's
    worker on the same cores (cancelled afterwards)."""
    idle = web_measures(classify_seconds)
    long_job = engine.submit(_small_config(train_limit=LONG_JOB["train_limit"]).with_changes(epochs=LONG_JOB["epochs"]),
                             "bench-load")
    deadline = time.monotonic() + FIRST_BATCH_TIMEOUT
    while engine.get(long_job.job_id).state.batch == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    busy = web_measures(classify_seconds)
    still_training = engine.get(long_job.job_id).status == "running"
    engine.cancel(long_job.job_id, "bench-load")
    engine.wait(long_job.job_id, timeout=FIRST_BATCH_TIMEOUT)
    return {"idle": idle, "busy": busy, "trained_throughout": still_training}


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


def markdown(result: dict, command: str = "python -m benchmarks.jobs_bench", load_before: str | None = None) -> str:
    """One RESULTS.md section, with the CPU and the load average beside the figures."""
    from .machine import collect

    q = result["queue"]
    machine = collect()
    load = (f"load average {load_before} before, {machine.load_line()} after" if load_before
            else f"load {machine.load_line()}")
    return "\n".join([
        f"\n## Jobs engine ({machine.timestamp_utc}; {machine.cpu_line()}; {load})\n",
        f"Command: `{command}`\n",
        "| measure | value |", "|---|---|",
        f"| Submit to first batch, cold (engine start incl. Ray {result['ray_start_s']} s) | "
        f"{result['cold_first_batch_s']:.1f} s |",
        f"| Submit to first batch, warm | {result['warm_first_batch_s']:.1f} s |",
        f"| Queue: {q['jobs']} small jobs from {q['jobs']} submitters | "
        f"{q['completed']} completed, {q['errors']} errors, "
        f"{q['total_s']:.1f} s total, wait median {q['wait_median_s']:.1f} s / max {q['wait_max_s']:.1f} s, "
        f"started in order: {q['in_order']} |",
        *(web_rows(result["web"]) if result.get("web") else []),
    ]) + "\n"


def _ratio(idle: float | None, busy: float | None) -> str:
    return f"{busy / idle:.2f}x" if idle and busy else "n/a"


def web_rows(web: dict) -> list[str]:
    """Issue #16 item 1's rows: each latency idle / while one job trains, and their ratio (target <= 1.5x)."""
    def ms(value, digits=0):
        return f"{value * 1000:.{digits}f} ms" if value is not None else "n/a"

    idle, busy = web["idle"], web["busy"]
    errors = len(idle["errors"]) + len(busy["errors"])
    note = f"job trained throughout: {web['trained_throughout']}; errors: {errors}"
    return [
        f"| Page switch (median of {idle['switches']} / {busy['switches']}), idle / while a job trains | "
        f"{ms(idle['switch_s'])} / {ms(busy['switch_s'])} = {_ratio(idle['switch_s'], busy['switch_s'])} ({note}) |",
        f"| Classify in the app: upload -> prediction visible, 1 browser session (median of "
        f"{idle['classifications']} / {busy['classifications']}), idle / while a job trains | "
        f"{ms(idle['classify_s'])} / {ms(busy['classify_s'])} = {_ratio(idle['classify_s'], busy['classify_s'])} |",
        f"| Predictor in one process: 600x600 JPEG -> top-3 (median of {idle['api_calls']} / {busy['api_calls']}), "
        f"idle / while a job trains | {ms(idle['api_s'], 1)} / {ms(busy['api_s'], 1)} = "
        f"{_ratio(idle['api_s'], busy['api_s'])} |",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs_bench", description=__doc__)
    parser.add_argument("--jobs", type=int, default=3, help="small jobs in the queue run (default 3)")
    parser.add_argument("--web", action="store_true",
                        help="also time page switches and classifications idle and under a job (browser)")
    parser.add_argument("--record", action="store_true", help=f"append the table to {DEFAULT_RESULTS.name}")
    args = parser.parse_args(argv)
    ensure_data_dir()
    from .machine import collect

    before = collect().load_line()
    result = run(args.jobs, web=args.web)
    command = "python -m benchmarks.jobs_bench " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    text = markdown(result, command.strip(), before)
    print(text)
    if args.record:
        from .report import append_results

        append_results(DEFAULT_RESULTS, text)
    return 0 if result["queue"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

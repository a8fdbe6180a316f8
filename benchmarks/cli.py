"""python -m benchmarks: issue #5's measurements in one process, printed and appended to RESULTS.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import DEFAULT_RESULTS, PROJECT_DIR, ensure_data_dir

QUICK_TRAIN_LIMIT = 2000
QUICK_EPOCHS = 2
RECIPES = ("seed", "default", "best")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Issue #5 benchmarks: seed vs default recipe (time to 86%, speed, FLOP/s vs peak), "
        "inference latency and app responsiveness. The full run takes 30+ minutes on 2 cores.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke check: {QUICK_TRAIN_LIMIT} training images, {QUICK_EPOCHS} epochs per recipe, "
                        "small peak matrix, fewer inference calls, one page switch pair (< 3 minutes)")
    parser.add_argument("--seed-epochs", type=int, metavar="N", help="epochs for the seed recipe (default: its preset)")
    parser.add_argument("--default-epochs", type=int, metavar="N",
                        help="epochs for the default recipe (default: its preset)")
    parser.add_argument("--best", action="store_true", help="also train PRESETS['best']")
    parser.add_argument("--recipes", type=lambda v: [r.strip() for r in v.split(",") if r.strip()], metavar="LIST",
                        help="train only these recipes, comma-separated, from seed, default, best "
                        "(default: seed,default, and best with --best)")
    parser.add_argument("--best-epochs", type=int, metavar="N", help="epochs for the best recipe (default: its preset)")
    parser.add_argument("--train-limit", type=int, metavar="N", help="train on N images (default: all; --quick: 2000)")
    parser.add_argument("--skip-training", action="store_true", help="no training (and no peak measurement)")
    parser.add_argument("--skip-inference", action="store_true", help="no inference timing")
    parser.add_argument("--skip-app", action="store_true", help="no app (streamlit + browser) timing")
    parser.add_argument("--skip-explain", action="store_true", help="no explain-engine timing / deletion check (#13)")
    parser.add_argument("--jobs", action="store_true",
                        help="issue #16's engine figures (not in --quick; 15-30 minutes on 2 cores): Submit to first "
                        "batch cold and warm, a 3-job queue, page switches and classifications idle and while a job "
                        "trains, and a load run of --jobs-sessions browser sessions each submitting one job; add "
                        "--skip-training --skip-inference --skip-explain --skip-app for these alone")
    parser.add_argument("--jobs-sessions", type=int, default=10, metavar="N",
                        help="browser sessions in --jobs' load run, one small job each (default 10)")
    parser.add_argument("--app", type=Path, default=PROJECT_DIR / "app.py",
                        help="the Streamlit entry point (default: app.py)")
    parser.add_argument("--keep-runs", type=Path, metavar="DIR",
                        help="train in this runs folder and keep the runs (default: a throwaway folder); the "
                        "shipped model is the default recipe's run of a recorded benchmark")
    parser.add_argument("--no-record", action="store_true", help="do not append the results to RESULTS.md")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help=f"results file (default: {DEFAULT_RESULTS})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    for name in ("seed_epochs", "default_epochs", "best_epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            build_parser().error(f"--{name.replace('_', '-')} must be at least 1")
    unknown = [r for r in args.recipes or [] if r not in RECIPES]
    if unknown or args.recipes == []:
        build_parser().error(f"--recipes takes a comma-separated list from {', '.join(RECIPES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message=r".*`shuffle=True` was passed.*")  # tf.data pipelines shuffle
    ensure_data_dir()
    command = "python -m benchmarks" + ("" if not argv else " " + shlex.join(argv))
    return run(args, command)


def log(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace, command: str) -> int:
    from . import machine
    from .report import BenchmarkReport, append_results, render_markdown, render_text

    started = time.perf_counter()
    report = BenchmarkReport(command=command, quick=args.quick, machine=machine.collect())
    log(f"[machine] {report.machine.cpu_line()}; load {report.machine.load_line()}")
    errors = 0

    def section(name: str, fn) -> None:
        nonlocal errors
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report every section that can run
            errors += 1
            report.notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
            log(f"[{name}] FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc()

    dataset = None
    trained_default = None

    def load_data() -> None:
        nonlocal dataset
        from fmnist_core.data import load_dataset

        dataset = load_dataset()
        report.data_source = dataset.source.description
        log(f"[data] {dataset.source.description}")

    section("data", load_data)

    if not args.skip_training and dataset is not None:
        section("peak", lambda: measure_peaks(report, quick=args.quick))

        def training() -> None:
            nonlocal trained_default
            trained_default = train_recipes(report, args, dataset)

        section("training", training)

    if not args.skip_inference and dataset is not None:
        section("inference", lambda: run_inference(report, args, dataset, trained_default))

    if not args.skip_explain and dataset is not None:
        from .explain_bench import run_explain_benchmark

        section("explain",
                lambda: report.notes.extend(run_explain_benchmark(dataset, quick=args.quick, log=log).lines()))

    if not args.skip_app:
        from .app_bench import run_app_benchmark

        def app() -> None:
            report.app = run_app_benchmark(args.app, quick=args.quick, timeout_s=60 if args.quick else 120, log=log)
            if report.app.error:
                nonlocal errors
                errors += 1
                report.notes.append(f"app benchmark error: {report.app.error}")
            report.notes.extend(f"app page error: {e}" for e in report.app.page_errors)

        section("app", app)

    job_sections: list[str] = []
    if args.jobs:
        section("jobs", lambda: run_jobs(command, args.jobs_sessions, job_sections))

    report.total_seconds = time.perf_counter() - started
    if args.skip_training:
        report.notes.append("training skipped (--skip-training)")
    print(render_text(report), flush=True)
    if not args.no_record:
        only_jobs = args.jobs and args.skip_training and args.skip_inference and args.skip_explain and args.skip_app
        for text in ([] if only_jobs else [render_markdown(report)]) + job_sections:
            append_results(args.results, text)
        log(f"appended to {args.results}")
    return 1 if errors else 0


def run_jobs(command: str, sessions: int, sections: list[str]) -> None:
    """Issue #16 item 8: benchmarks.jobs_bench (with the web latencies) and benchmarks.queue_load, each
    recorded as its own section with the load average before and after; raises when a job or page failed."""
    from . import jobs_bench, queue_load
    from .machine import collect

    before = collect().load_line()
    result = jobs_bench.run(3, web=True)
    sections.append(jobs_bench.markdown(result, command, before))
    log(sections[-1])
    before = collect().load_line()
    load = queue_load.run_queue_load(sessions=sessions)
    sections.append(queue_load.markdown(load, command, before))
    log(queue_load.report(load))
    web = result["web"]
    problems = result["queue"]["errors"] + len(web["idle"]["errors"]) + len(web["busy"]["errors"]) + len(load.errors)
    if problems:
        raise RuntimeError(f"{problems} job or page errors (see the recorded sections)")


def measure_peaks(report, *, quick: bool) -> None:
    from .peak import measure_matmul_peak

    size, repeats = (2048, 3) if quick else (4096, 5)
    for dtype in ("float32", "bfloat16"):
        result = measure_matmul_peak(size, dtype, repeats=repeats if dtype == "float32" else max(2, repeats - 2))
        report.peaks[dtype] = result
        log(f"[peak] {result.describe()}")


def training_plan(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """(recipe, epochs or None for the preset's own) in a fixed order: seed, default, best."""
    quick_epochs = QUICK_EPOCHS if args.quick else None
    epochs = {
        "seed": args.seed_epochs or quick_epochs,
        "default": args.default_epochs or quick_epochs,
        "best": args.best_epochs or quick_epochs,
    }
    names = args.recipes or (["seed", "default"] + (["best"] if args.best else []))
    return [(name, epochs[name]) for name in RECIPES if name in names]


def train_recipes(report, args, dataset):
    """Train seed, default (and best) one after the other in a throwaway runs folder (or --keep-runs)."""
    from fmnist_core.runs import RunStore

    from .training_bench import benchmark_config, check_floors, run_recipe

    limit = args.train_limit if args.train_limit is not None else (QUICK_TRAIN_LIMIT if args.quick else None)
    trained_default = None
    with contextlib.ExitStack() as stack:
        folder = args.keep_runs or stack.enter_context(tempfile.TemporaryDirectory(prefix="fmnist-bench-runs-"))
        store = RunStore(root=folder, pretrained_dir=None)
        for name, epochs in training_plan(args):
            config = benchmark_config(name, epochs=epochs, train_limit=limit)
            recipe, model = run_recipe(name, config, dataset=dataset, store=store, log=log)
            report.recipes.append(recipe)
            if name == "default":
                trained_default = model
    if limit is not None:
        report.notes.append(f"trained on a stratified subset of {limit} training images")
    check_floors(report.recipes)  # raises: the section fails and the run exits non-zero
    return trained_default


def run_inference(report, args, dataset, trained_default) -> None:
    from .inference_bench import PHOTO_SET_COUNT, load_inference_model
    from .inference_bench import run_inference as measure

    model, source = load_inference_model(trained_default, log=log)
    calls = (50, 5, 1) if args.quick else (200, 20, 3)
    report.inference = measure(
        model, source, dataset, upload_calls=calls[0], keras_calls=calls[1], test_set_repeats=calls[2],
        photo_count=100 if args.quick else PHOTO_SET_COUNT, log=log,
    )
    inf = report.inference
    log(
        f"[inference] upload -> top-3 p50 {inf.upload.p50_ms:.1f} ms, p99 {inf.upload.p99_ms:.1f} ms; "
        f"test set {inf.test_set_median_seconds:.2f} s"
    )
    from .inference_bench import run_litert_inference  # issue 17 item 3: the LiteRT path

    keras_probs = model.predict(dataset.x_test[..., None] / 255.0, batch_size=1000, verbose=0)
    report.litert = run_litert_inference(dataset, keras_probabilities=keras_probs, upload_calls=calls[0],
                                         test_set_repeats=calls[2], cold_repeats=calls[2], log=log)

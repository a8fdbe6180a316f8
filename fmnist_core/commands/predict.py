"""`python -m fmnist_core predict RUN IMAGE...`: top-3 classes of image files, without TensorFlow.

A run with a verified LiteRT copy (model.tflite) is served by the small ai-edge-litert runtime, so a
cold `predict` does not pay TensorFlow's start-up; a run without one is exported once (that call
imports TensorFlow) or, failing that, served by Keras.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="classify image files with a run's model (top-3)")
    parser.add_argument("run_id")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_predict)


def _store(args: argparse.Namespace):
    from ..runs import RunStore  # noqa: PLC0415

    return RunStore(args.runs_dir) if getattr(args, "runs_dir", None) else RunStore()


def run_predict(args: argparse.Namespace) -> int:
    """Print each image's top-3 (or a one-line error on stderr); exit status 1 if any image failed."""
    from ..errors import FmnistError  # noqa: PLC0415
    from ..inference import load_predictor  # noqa: PLC0415

    predictor = load_predictor(_store(args), args.run_id)
    failures = 0
    results = []
    for path in args.images:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"{path}: cannot read file ({exc.strerror or exc})", file=sys.stderr)
            failures += 1
            continue
        try:
            top3 = predictor.classify_bytes(data).top3
        except FmnistError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        results.append({"image": str(path), "top3": [{"class": name, "index": i, "probability": p}
                                                     for i, name, p in top3]})
        if not args.json:
            print(f"{path}: " + ", ".join(f"{name} {p:.1%}" for _, name, p in top3))
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failures else 0

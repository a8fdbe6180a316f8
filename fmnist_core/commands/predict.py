"""`python -m fmnist_core predict RUN IMAGE...`: top-3 classes of image files, without TensorFlow.

Every file is checked first (fmnist_core.image_check: size, format, decodability; no TensorFlow), so a
refused file costs milliseconds and the model loads only when at least one file passed. A run with a
verified LiteRT copy (model.tflite) is then served by the small ai-edge-litert runtime, so a cold
`predict` does not pay TensorFlow's start-up; a run without one is exported once (that call imports
TensorFlow) or, failing that, served by Keras.
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
    parser.set_defaults(handler=run_predict)


def _store(args: argparse.Namespace):
    from ..runs import RunStore

    return RunStore(args.runs_dir) if getattr(args, "runs_dir", None) else RunStore()


def run_predict(args: argparse.Namespace) -> int:
    """Print each image's top-3 (or a one-line error on stderr); exit status 1 if any image failed."""
    from ..cli import engine_output
    from ..errors import FmnistError
    from ..image_check import read_checked_image

    store = _store(args)
    store.get(args.run_id)  # an unknown run is reported before any file
    failures = 0
    accepted: list[tuple[Path, bytes]] = []
    for path in args.images:
        try:
            accepted.append((path, read_checked_image(path)))
        except FmnistError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
    results = []
    if accepted:
        from ..inference import load_predictor

        with engine_output():
            predictor = load_predictor(store, args.run_id)
        for path, data in accepted:
            try:
                with engine_output():
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

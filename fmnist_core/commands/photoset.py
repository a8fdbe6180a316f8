"""python -m fmnist_core photoset: write the photo-like test set (and optionally score a run on it)."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "photoset",
        help="render a seeded photo-like test set from test images (coloured garments on textured backgrounds)",
    )
    parser.add_argument("--out", required=True, help="folder for the JPEGs and manifest.json (never commit it)")
    parser.add_argument("--count", type=int, default=500, help="number of photos, spread over the ten classes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score", metavar="RUN", help="then classify every photo with this run and print top-1")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fmnist_core.data import load_dataset
    from fmnist_core.photoset import read_manifest, score_photoset, write_photoset

    if args.count < 1:
        print("--count must be at least 1", file=sys.stderr)
        return 2
    dataset = load_dataset()
    start = time.perf_counter()
    manifest = write_photoset(args.out, dataset.x_test, dataset.y_test, args.count, args.seed)
    print(f"wrote {args.count} photos and {manifest} in {time.perf_counter() - start:.1f} s")
    if args.score:
        from fmnist_core.inference import Predictor
        from fmnist_core.runs import RunStore

        store = RunStore(args.runs_dir) if getattr(args, "runs_dir", None) else RunStore()
        predictor = Predictor(store.load_model(args.score))
        pairs = ((path.read_bytes(), label) for path, label in read_manifest(args.out))
        score = score_photoset(pairs, lambda data: predictor.classify_bytes(data).probabilities)
        print(f"run {args.score}: {score.describe()}")
    return 0

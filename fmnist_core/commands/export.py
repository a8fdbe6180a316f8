"""`python -m fmnist_core export RUN --format FORMAT --out DIR`: a saved run as a file to take away."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from ..export_formats import ExportFormat  # light: numpy and the names only

    parser = sub.add_parser("export", help="write a run's model as keras, litert, litert-int8, onnx or saved_model")
    parser.add_argument("run_id")
    parser.add_argument("--format", choices=[f.value for f in ExportFormat], required=True, dest="export_format")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created; README.md goes there)")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from ..export_formats import export_run, parse_format
    from ..runs import RunStore

    store = RunStore(args.runs_dir) if getattr(args, "runs_dir", None) else RunStore()
    result = export_run(store, args.run_id, parse_format(args.export_format), args.out)
    if args.json:
        print(json.dumps(result.summary(), indent=2))
        return 0
    print(f"wrote {result.path} and {result.readme}")
    if result.test_accuracy is not None:
        print(f"test accuracy: {result.test_accuracy:.4f} ({result.format.value}) vs "
              f"{result.float_test_accuracy:.4f} (float32)", file=sys.stdout)
    return 0

"""Benchmarks for issue #5: training speed and accuracy, inference latency, app responsiveness.

Run ``python -m benchmarks`` (full, ~30+ minutes on 2 cores) or ``python -m benchmarks --quick`` (smoke check).
Every figure printed or recorded is measured in that run; only the targets of issue #5 are constants.
"""

from __future__ import annotations

import os
from pathlib import Path

import fmnist_core  # noqa: F401 - imported first, it chooses TensorFlow's CPU kernels (fmnist_core.cpu_kernels)

BENCHMARKS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCHMARKS_DIR.parent
DEFAULT_RESULTS = BENCHMARKS_DIR / "RESULTS.md"


def ensure_data_dir() -> str | None:
    """Default FMNIST_DATA_DIR to ../shared/data/fashion-mnist next to the repository when it is unset."""
    if not os.environ.get("FMNIST_DATA_DIR"):
        candidate = (PROJECT_DIR.parent / "shared" / "data" / "fashion-mnist").resolve()
        if candidate.is_dir():
            os.environ["FMNIST_DATA_DIR"] = str(candidate)
    return os.environ.get("FMNIST_DATA_DIR")

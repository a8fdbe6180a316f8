"""A rough time per epoch for any architecture: its multiply-adds over this machine's measured throughput.

Throughput is training multiply-adds per second (3 x the forward pass per image: forward, and the
two products of the backward pass). It comes from the runs already trained on this host (their
recorded size and epoch times), or from a short measurement (``archspec_build.measure_throughput``).
Small layers are memory-bound and large ones are not, so the estimate is within a factor of about two.
"""

from __future__ import annotations

import socket
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .constants import TRAIN_SIZE, VALIDATION_SIZE

BACKWARD_FACTOR = 3.0


@dataclass(frozen=True)
class Throughput:
    """Training multiply-adds per second, and where the figure came from (for the page's caption)."""

    macs_per_second: float
    source: str


def training_images(config: dict[str, Any]) -> int:
    """How many images one epoch of this run config trains on."""
    full = TRAIN_SIZE if config.get("validation") == "test" else TRAIN_SIZE - VALIDATION_SIZE
    limit = config.get("train_limit")
    return min(full, int(limit)) if limit else full


def run_throughput(meta: dict[str, Any], history: dict[str, list[float]]) -> float | None:
    """Training multiply-adds per second of one finished epoch of a run, or None without the figures."""
    macs = (meta.get("model") or {}).get("multiply_adds")
    seconds = [s for s in history.get("train_seconds", []) if s and s > 0]
    if not macs or not seconds:
        return None
    return BACKWARD_FACTOR * macs * training_images(meta.get("config") or {}) / statistics.median(seconds)


def throughput_from_runs(runs: Iterable[tuple[dict[str, Any], dict[str, list[float]]]],
                         host: str | None = None) -> Throughput | None:
    """The median throughput of the runs trained on this host (None when there are none)."""
    host = host or socket.gethostname()
    rates = [rate for meta, history in runs if meta.get("host") == host
             for rate in [run_throughput(meta, history)] if rate]
    if not rates:
        return None
    runs_text = f"{len(rates)} run{'s' * (len(rates) > 1)}"
    return Throughput(statistics.median(rates), f"measured from {runs_text} on this machine")


def epoch_seconds(multiply_adds: int, images: int, throughput: Throughput) -> float:
    """Rough training seconds for one epoch of `images` images."""
    return BACKWARD_FACTOR * multiply_adds * images / max(throughput.macs_per_second, 1.0)

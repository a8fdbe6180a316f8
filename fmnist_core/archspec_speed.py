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

from .constants import TEST_SIZE, TRAIN_SIZE, VALIDATION_SIZE
from .cpu_kernels import KERNELS_KEY, onednn_state

BACKWARD_FACTOR = 3.0
# Engine start, TensorFlow's import and graph tracing before the first batch: about this long on the
# 2-core machines measured (benchmarks/RESULTS.md, submit to first batch and the first epoch's extra).
START_UP_SECONDS = 15.0
# How far off the estimate may be: runs of the same network on this machine predict its epochs well;
# another network's rate is only a rough guide (small layers are memory-bound, large ones are not).
SAME_NETWORK_SPREAD = 1.25
OTHER_NETWORK_SPREAD = 2.0


@dataclass(frozen=True)
class Throughput:
    """Training multiply-adds per second, and where the figure came from (for the page's caption)."""

    macs_per_second: float
    source: str


def training_images(config: dict[str, Any]) -> int:
    """How many images one epoch of this run config trains on, photo renders included."""
    return _split_images(config) + photo_render_count(config)


def _split_images(config: dict[str, Any]) -> int:
    full = TRAIN_SIZE if config.get("validation") == "test" else TRAIN_SIZE - VALIDATION_SIZE
    limit = config.get("train_limit")
    return min(full, int(limit)) if limit else full


def photo_render_count(config: dict[str, Any]) -> int:
    """How many photo renders this run config adds to its training set (a share of it: config.photo_renders)."""
    return round(float(config.get("photo_renders") or 0.0) * _split_images(config))


def run_throughput(meta: dict[str, Any], history: dict[str, list[float]]) -> float | None:
    """Training multiply-adds per second of one finished epoch of a run, or None without the figures."""
    macs = (meta.get("model") or {}).get("multiply_adds")
    seconds = [s for s in history.get("train_seconds", []) if s and s > 0]
    if not macs or not seconds:
        return None
    return BACKWARD_FACTOR * macs * training_images(meta.get("config") or {}) / statistics.median(seconds)


def throughput_from_runs(runs: Iterable[tuple[dict[str, Any], dict[str, list[float]]]],
                         host: str | None = None, architecture: str | None = None,
                         kernels: str | None = None) -> Throughput | None:
    """The median throughput of the runs trained on this host (None when there are none).

    With ``architecture``, only runs of that network count: the figure then predicts that network's
    epochs closely, instead of within a factor of about two. A run that recorded other TensorFlow CPU
    kernels than ``kernels`` (this process's, by default) does not count: the same network trains 1.6x
    faster with oneDNN's on an AVX2 CPU. Runs from before the kernels were recorded count.
    """
    host = host or socket.gethostname()
    kernels = kernels or onednn_state()
    rates = [rate for meta, history in runs if meta.get("host") == host
             and (architecture is None or (meta.get("config") or {}).get("architecture") == architecture)
             and (meta.get("versions") or {}).get(KERNELS_KEY, kernels) == kernels
             for rate in [run_throughput(meta, history)] if rate]
    if not rates:
        return None
    runs_text = f"{len(rates)} run{'s' * (len(rates) > 1)}"
    network = f" of {architecture}" if architecture else ""
    return Throughput(statistics.median(rates), f"measured from {runs_text}{network} on this machine")


def epoch_seconds(multiply_adds: int, images: int, throughput: Throughput) -> float:
    """Rough training seconds for one epoch of `images` images."""
    return BACKWARD_FACTOR * multiply_adds * images / max(throughput.macs_per_second, 1.0)


@dataclass(frozen=True)
class RunEstimate:
    """How long a whole training run should take on this machine, with a plausible range."""

    seconds: float
    low_seconds: float
    high_seconds: float
    epochs: int
    images_per_epoch: int
    basis: str


def validation_images(config: dict[str, Any]) -> int:
    """How many images each epoch's validation pass predicts."""
    return TEST_SIZE if config.get("validation") == "test" else VALIDATION_SIZE


def estimate_run(config: dict[str, Any], multiply_adds: int, throughput: Throughput, *,
                 same_network: bool) -> RunEstimate:
    """Start-up, plus every epoch's training (3x the forward work) and validation pass (forward only)."""
    epochs = int(config.get("epochs") or 1)
    images = training_images(config)
    per_epoch = epoch_seconds(multiply_adds, images, throughput)
    per_epoch += multiply_adds * validation_images(config) / max(throughput.macs_per_second, 1.0)
    seconds = START_UP_SECONDS + epochs * per_epoch
    spread = SAME_NETWORK_SPREAD if same_network else OTHER_NETWORK_SPREAD
    return RunEstimate(seconds, START_UP_SECONDS + epochs * per_epoch / spread,
                       START_UP_SECONDS + epochs * per_epoch * spread, epochs, images, throughput.source)


def estimate_from_runs(config: dict[str, Any], multiply_adds: int,
                       runs: Iterable[tuple[dict[str, Any], dict[str, list[float]]]],
                       host: str | None = None, measured: Throughput | None = None) -> RunEstimate | None:
    """The run's time on this machine, from the best evidence there is.

    In order: this machine's runs of the same network; `measured` (a few steps of this very network
    timed here); any runs on this machine (a wider range); else None (the page offers to measure).
    """
    runs = list(runs)
    architecture = config.get("architecture")
    same = throughput_from_runs(runs, host, architecture) if architecture else None
    if same is not None:
        return estimate_run(config, multiply_adds, same, same_network=True)
    if measured is not None:
        return estimate_run(config, multiply_adds, measured, same_network=True)
    rate = throughput_from_runs(runs, host)
    if rate is None:
        return None
    return estimate_run(config, multiply_adds, rate, same_network=False)

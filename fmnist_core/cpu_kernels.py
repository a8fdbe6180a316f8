"""TensorFlow's oneDNN kernels on every x86-64 CPU with AVX2 and FMA, chosen before TensorFlow is imported.

TensorFlow's Linux x86-64 wheels compile their default (Eigen) kernels for AVX without FMA ("To enable
the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow"), and turn on the oneDNN
kernels, which pick AVX2, FMA or AVX-512 when they run, by default only on CPUs with AVX-512 VNNI or
BF16 or AMX. So a CPU with AVX2 and FMA alone ran matrix products at half its speed: on a 2-core AMD EPYC
(AVX2 and FMA, no AVX-512), a 4096x4096 float32 `tf.linalg.matmul` measured 89-92 GFLOP/s with the
default kernels and 164-179 with oneDNN's, and the default recipe's training steps ran 1.5-1.75x as fast
(docs/compute.md, 2026-12-06). The CPUs where TensorFlow already turns oneDNN on have AVX2 and FMA too,
so for them nothing changes.

The setting is TensorFlow's documented environment variable, read once when TensorFlow is imported, so it
is set when this package is imported (fmnist_core/__init__.py) and has no effect if TensorFlow was
imported first. A value the user set is kept ("0" turns oneDNN off, as TensorFlow documents).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, MutableMapping

from .hardware_probe import cpu_flags

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
#: Where a run records onednn_state() among its "versions" (archspec_speed compares runs by it).
KERNELS_KEY = "tensorflow_cpu_kernels"
X86_64_NAMES = ("x86_64", "amd64")
ONEDNN_FLAGS = frozenset({"avx2", "fma"})


def onednn_wanted(machine: str, flags: set[str]) -> bool:
    """True for an x86-64 CPU with AVX2 and FMA, where oneDNN's kernels are the fast ones."""
    return machine.lower() in X86_64_NAMES and flags >= ONEDNN_FLAGS


def choose_cpu_kernels(
    environ: MutableMapping[str, str] | None = None,
    *,
    machine: str | None = None,
    flags: set[str] | None = None,
    modules: Mapping[str, object] | None = None,
) -> str | None:
    """Set TF_ENABLE_ONEDNN_OPTS=1 where onednn_wanted, unless it is set already or TensorFlow is already
    imported (too late to matter). Returns the value set, or None when nothing was set. The keywords
    stand in for this machine and process (platform.machine(), /proc/cpuinfo, sys.modules) in tests."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if ONEDNN_VARIABLE in environ or "tensorflow" in modules:
        return None
    machine = platform.machine() if machine is None else machine
    if not onednn_wanted(machine, cpu_flags() if flags is None else flags):
        return None
    environ[ONEDNN_VARIABLE] = "1"
    return "1"


def onednn_state(environ: MutableMapping[str, str] | None = None) -> str:
    """What a run on this machine uses, in words (benchmark sections and run records name it)."""
    value = (os.environ if environ is None else environ).get(ONEDNN_VARIABLE)
    if value is None:
        return "TensorFlow's default"
    return "oneDNN on" if value.strip().lower() in ("1", "true") else "oneDNN off"

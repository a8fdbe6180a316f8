"""Whether mixed precision pays on this machine: decided by a feature check and a short measurement.

bfloat16 halves memory traffic, but only CPUs with native bfloat16 instructions (AVX512_BF16, AMX)
compute it fast; elsewhere TensorFlow emulates it and it is slower than float32 (measured on a 2-core
AVX2-only EPYC). So: a GPU gets float16; a CPU without the instructions gets float32 without
measuring; a CPU with them gets bfloat16 only if a bfloat16 matrix product is measured at least
MIN_SPEEDUP times faster than the float32 one, in this process (about a second, once).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
MIN_SPEEDUP = 1.15  # below this, bfloat16's rounding is not worth it
PROBE_SIZE = 1024  # square matmul: large enough to be compute-bound, small enough for ~10 ms
PROBE_REPEATS = 5  # best of N: other processes on the cores only ever make a run slower


@dataclass(frozen=True)
class PrecisionDecision:
    policy: str | None  # a Keras dtype policy name, or None for plain float32
    reason: str
    float32_gflops: float | None = None
    bfloat16_gflops: float | None = None

    def summary(self) -> dict:
        return asdict(self)


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def has_native_bf16(flags: set[str]) -> bool:
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def matmul_gflops(dtype: str, size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS) -> float:
    """Best-of-N GFLOP/s of one size x size matrix product in dtype (TensorFlow, this process)."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((size, size), seed=(1, 2), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.linalg.matmul(x, x), tf.float32)))
    product(a).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def decide_cpu_precision(flags: set[str], measure=matmul_gflops) -> PrecisionDecision:
    """The policy for a CPU with these flags; `measure(dtype) -> GFLOP/s` is called only when the
    CPU has native bfloat16 (a parameter so the rule can be tested without timing anything)."""
    if not has_native_bf16(flags):
        return PrecisionDecision(None, "float32: this CPU has no native bfloat16 instructions "
                                       f"({' / '.join(NATIVE_BF16_FLAGS)} absent), "
                                       "so bfloat16 would be emulated and slower")
    f32, bf16 = measure("float32"), measure("bfloat16")
    speedup = bf16 / f32 if f32 > 0 else 0.0
    if speedup >= MIN_SPEEDUP:
        return PrecisionDecision("mixed_bfloat16", f"bfloat16: measured {speedup:.2f}x float32's matmul speed "
                                                   f"({bf16:.0f} vs {f32:.0f} GFLOP/s)", f32, bf16)
    return PrecisionDecision(None, f"float32: bfloat16 measured only {speedup:.2f}x float32's matmul speed "
                                   f"({bf16:.0f} vs {f32:.0f} GFLOP/s; needs {MIN_SPEEDUP}x)", f32, bf16)


@functools.lru_cache(maxsize=1)
def precision_decision() -> PrecisionDecision:
    """This machine's decision, made once per process: float16 on a GPU, else the CPU rule."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return PrecisionDecision("mixed_float16", "float16: a GPU is present")
    return decide_cpu_precision(cpu_flags())


def mixed_precision_policy() -> str | None:
    """The Keras dtype policy for `mixed_precision=True` on this machine (None means float32)."""
    return precision_decision().policy

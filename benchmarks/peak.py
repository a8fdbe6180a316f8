"""The machine's measured matrix-multiply peak, the yardstick for a model's achieved FLOP/s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PeakResult:
    dtype: str
    size: int  # n of the n x n @ n x n product
    seconds: list[float] = field(default_factory=list)  # each timed repeat, after the warm-up

    @property
    def best_seconds(self) -> float:
        return min(self.seconds)

    @property
    def flops_per_second(self) -> float:
        """2 n^3 FLOPs (n^3 multiply-adds) over the best repeat."""
        return 2.0 * self.size**3 / self.best_seconds

    def describe(self) -> str:
        return (
            f"{self.dtype} {self.size}x{self.size} matmul: {self.flops_per_second / 1e9:.1f} GFLOP/s "
            f"(best of {len(self.seconds)}: {self.best_seconds * 1000:.0f} ms)"
        )


def measure_matmul_peak(size: int = 4096, dtype: str = "float32", repeats: int = 5, warmup: int = 1) -> PeakResult:
    """tf.linalg.matmul of two size x size matrices: warm-up runs, then the best of `repeats` timings."""
    import tensorflow as tf

    if size < 1 or repeats < 1:
        raise ValueError("size and repeats must be positive")
    tf_dtype = tf.as_dtype(dtype)
    generator = tf.random.Generator.from_seed(1234)
    a = tf.cast(generator.uniform((size, size), dtype=tf.float32), tf_dtype)
    b = tf.cast(generator.uniform((size, size), dtype=tf.float32), tf_dtype)

    def once() -> float:
        start = time.perf_counter()
        product = tf.linalg.matmul(a, b)
        product[0, 0].numpy()  # wait for the result
        return time.perf_counter() - start

    for _ in range(warmup):
        once()
    return PeakResult(dtype=tf_dtype.name, size=size, seconds=[once() for _ in range(repeats)])

"""What the machine offers: bfloat16/float16 compute, GPUs, and the package versions recorded in a run."""

from __future__ import annotations

import platform

import numpy as np


def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_count() -> int:
    import tensorflow as tf  # noqa: PLC0415

    return len(tf.config.list_physical_devices("GPU"))


def mixed_precision_policy() -> str | None:
    """float16 on GPUs, bfloat16 on CPUs that compute it natively, else None (plain float32)."""
    if gpu_count():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else None


def distribution_strategy():
    """MirroredStrategy across several GPUs, else TensorFlow's default strategy."""
    import tensorflow as tf  # noqa: PLC0415

    if gpu_count() > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def package_versions() -> dict[str, str]:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }

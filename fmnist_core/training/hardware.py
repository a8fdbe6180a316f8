"""What the machine offers: bfloat16/float16 compute, GPUs, and the package versions recorded in a run."""

from __future__ import annotations

import platform

import numpy as np


def gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def mixed_precision_policy() -> str | None:
    """float16 on GPUs; on CPUs bfloat16 only where it is measured faster (fmnist_core.hardware_probe),
    else None (plain float32)."""
    from ..hardware_probe import mixed_precision_policy as decided

    return decided()


def distribution_strategy():
    """MirroredStrategy across several GPUs, else TensorFlow's default strategy."""
    import tensorflow as tf

    if gpu_count() > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def package_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from ..cpu_kernels import KERNELS_KEY, onednn_state

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        KERNELS_KEY: onednn_state(),  # the same network trains 1.6x faster with oneDNN on an AVX2 CPU
    }

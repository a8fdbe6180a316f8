"""One convolution, step by step: the kernel, the window under it, nine products, sum + bias, then ReLU.

Works on the first convolution of any model. When batch normalisation sits between it and the ReLU
(the Conv-BN-ReLU stems), its fixed inference-time scale and shift are applied after the sum, so
the numbers shown are exactly what the layer computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import stage_specs
from .layers import LayerKind, unwrap_mirror


@dataclass(frozen=True)
class FirstConv:
    """The first convolution's weights (for one input channel) and what follows it element-wise."""

    layer_name: str
    kernels: np.ndarray  # (C, kh, kw) float32, channel first
    bias: np.ndarray  # (C,)
    padding: str  # "same" | "valid"
    stride: int
    scale: np.ndarray  # (C,) batch-norm scale after the sum (1 without batch norm)
    shift: np.ndarray  # (C,) batch-norm shift (0 without)
    relu: bool

    @property
    def channels(self) -> int:
        return int(self.kernels.shape[0])

    @property
    def kernel_size(self) -> int:
        return int(self.kernels.shape[1])

    def output_size(self, size: int = 28) -> int:
        pad = self.kernel_size - 1 if self.padding == "same" else 0
        return (size + pad - self.kernel_size) // self.stride + 1


@dataclass(frozen=True)
class ConvolutionStep:
    row: int
    col: int
    channel: int
    window: np.ndarray  # (k, k) the input under the kernel (zeros outside the image)
    kernel: np.ndarray  # (k, k)
    products: np.ndarray  # (k, k) window * kernel
    total: float  # sum of the products
    bias: float
    pre_activation: float  # after bias (and batch norm, if any)
    output: float  # after ReLU (if any)


def first_conv(model) -> FirstConv:
    """The first Conv2D of the model (unwrapping mirror averaging) and its element-wise followers."""
    from keras import layers

    core, _ = unwrap_mirror(model)
    specs, _ = stage_specs(core)
    by_name = {layer.name: layer for layer in core.layers}
    for spec in specs:
        conv = by_name.get(spec.name)
        if spec.kind != LayerKind.CONV or not isinstance(conv, layers.Conv2D) or isinstance(
                conv, layers.DepthwiseConv2D):
            continue
        kernel = np.asarray(conv.kernel, np.float32)  # (kh, kw, in, out)
        kernels = np.transpose(kernel.mean(axis=2) if kernel.shape[2] > 1 else kernel[:, :, 0, :], (2, 0, 1))
        channels = kernels.shape[0]
        bias = np.asarray(conv.bias, np.float32) if conv.use_bias else np.zeros(channels, np.float32)
        scale = np.ones(channels, np.float32)
        shift = np.zeros(channels, np.float32)
        relu = getattr(conv.activation, "__name__", "") == "relu"
        for name in spec.layer_names[1:]:
            follower = by_name[name]
            if isinstance(follower, layers.BatchNormalization):
                gamma = np.asarray(follower.gamma, np.float32) if follower.scale else np.ones(channels, np.float32)
                beta = np.asarray(follower.beta, np.float32) if follower.center else np.zeros(channels, np.float32)
                mean = np.asarray(follower.moving_mean, np.float32)
                var = np.asarray(follower.moving_variance, np.float32)
                s = gamma / np.sqrt(var + follower.epsilon)
                scale, shift = scale * s, shift * s + beta - mean * s
            elif isinstance(follower, layers.ReLU) or getattr(getattr(follower, "activation", None), "__name__",
                                                               "") == "relu":
                relu = True
        return FirstConv(conv.name, kernels.astype(np.float32), bias, conv.padding, int(conv.strides[0]),
                         scale, shift, relu)
    raise ValueError(f"model {model.name!r} has no convolution layer")


def _padded(image: np.ndarray, conv: FirstConv) -> np.ndarray:
    img = np.asarray(image, np.float32).reshape(28, 28)
    if conv.padding == "same":
        before = (conv.kernel_size - 1) // 2
        after = conv.kernel_size - 1 - before
        return np.pad(img, ((before, after), (before, after)))
    return img


def convolution_step(image: np.ndarray, conv: FirstConv, channel: int, row: int, col: int) -> ConvolutionStep:
    """The computation of output pixel (row, col) of one channel, every number exposed."""
    size = conv.output_size()
    if not (0 <= channel < conv.channels and 0 <= row < size and 0 <= col < size):
        raise ValueError(f"channel {channel}, position ({row}, {col}) is outside the {conv.channels} x {size} x "
                         f"{size} output")
    k = conv.kernel_size
    padded = _padded(image, conv)
    r, c = row * conv.stride, col * conv.stride
    window = padded[r : r + k, c : c + k]
    kernel = conv.kernels[channel]
    products = window * kernel
    total = float(products.sum())
    bias = float(conv.bias[channel])
    pre = (total + bias) * float(conv.scale[channel]) + float(conv.shift[channel])
    out = max(pre, 0.0) if conv.relu else pre
    return ConvolutionStep(row, col, channel, window, kernel.copy(), products, total, bias, pre, out)


def convolution_map(image: np.ndarray, conv: FirstConv, channel: int) -> np.ndarray:
    """The channel's whole output map computed the same way (numpy), for the filling animation."""
    k = conv.kernel_size
    padded = _padded(image, conv)
    size = conv.output_size()
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k))[:: conv.stride, :: conv.stride][:size, :size]
    pre = (np.einsum("ijkl,kl->ij", windows, conv.kernels[channel]) + conv.bias[channel]) * conv.scale[channel] \
        + conv.shift[channel]
    return np.maximum(pre, 0.0) if conv.relu else pre

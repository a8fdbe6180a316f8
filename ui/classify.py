"""Classify a user's image with the active model and show what the model saw and thought."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.charts import probability_bars
from fmnist_core.runs import RunInfo

from .layout import format_percent
from .loaders import predictor

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif"]


def upscale_nearest(image: np.ndarray, factor: int = 6) -> np.ndarray:
    """Enlarge a small image by repeating pixels, so the browser shows crisp 28x28 pixels."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def classify_upload(run: RunInfo, data: bytes):
    """Preprocess uploaded bytes and classify them (raises ImageError for a bad file)."""
    return predictor(run).classify_bytes(data)


def classify_drawing(run: RunInfo, rgba: np.ndarray):
    """Preprocess a canvas drawing (HxWx4) and classify it (raises EmptyImageError when blank)."""
    return predictor(run).classify_canvas(rgba)


def render_classification(result, *, key: str) -> None:
    """Original, the 28x28 model input, the prediction, the top 3 and all ten probabilities."""
    pre = result.preprocessed
    top_index, top_name, top_p = result.top3[0]
    left, middle, right = st.columns([1, 1, 2], gap="medium")
    with left:
        st.markdown("**Your image**")
        st.image(pre.original, width=220)
        if pre.inverted:
            st.caption("Dark-on-light, so it was inverted to match Fashion-MNIST's light-on-black look.")
    with middle:
        st.markdown("**What the model sees (28×28)**")
        st.image(upscale_nearest(pre.as_uint8(), 4), width=112)  # shown 1:1, so the pixels stay crisp
        st.caption("Cropped to the object, padded square, resized and contrast-stretched.")
    with right:
        st.markdown(f"### Prediction: {top_name}")
        st.markdown(f"Confidence **{format_percent(top_p, 1)}**")
        st.markdown(
            "\n".join(f"{rank}. {name} — {format_percent(p, 1)}" for rank, (_, name, p) in enumerate(result.top3, 1))
        )
        st.plotly_chart(probability_bars(result.probabilities, highlight=top_index), key=f"{key}_bars", width="stretch")

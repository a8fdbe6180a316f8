"""Classify a user's image with the active model and show what the model saw and thought."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.charts import probability_bars
from fmnist_core.overlay import outline_overlay
from fmnist_core.preprocess import FULL_FRAME, MIN_CROP_FRACTION, CropBox
from fmnist_core.runs import RunInfo

from .layout import format_percent
from .loaders import predictor

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif"]
MIN_CROP_PERCENT = int(round(MIN_CROP_FRACTION * 100))


def upscale_nearest(image: np.ndarray, factor: int = 6) -> np.ndarray:
    """Enlarge a small image by repeating pixels, so the browser shows crisp 28x28 pixels."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def classify_upload(run: RunInfo, data: bytes, crop: CropBox | None = None):
    """Preprocess uploaded bytes (within the user's crop) and classify them (raises ImageError for a bad file)."""
    from fmnist_core.inference import Classification
    from fmnist_core.preprocess import preprocess_upload

    model = predictor(run)
    pre = preprocess_upload(data, crop=crop)
    return Classification(pre, model.predict(pre.model_input)[0])


def crop_from_percent(horizontal: tuple[float, float], vertical: tuple[float, float]) -> CropBox:
    """Two (low, high) slider ranges in percent -> a (left, top, right, bottom) crop in fractions."""
    (left, right), (top, bottom) = sorted(horizontal), sorted(vertical)
    return (left / 100.0, top / 100.0, right / 100.0, bottom / 100.0)


def crop_sliders(key: str) -> CropBox:
    """Two range sliders that narrow where the garment is looked for; the prediction follows at once."""
    st.markdown("**Adjust the crop** when the outline misses the garment")
    horizontal = st.slider("Left and right edges (%)", 0, 100, (0, 100), step=1, key=f"{key}_x",
                           help="Keep only this part of the photo's width; the garment is searched for inside it.")
    vertical = st.slider("Top and bottom edges (%)", 0, 100, (0, 100), step=1, key=f"{key}_y",
                         help="Keep only this part of the photo's height.")
    if horizontal[1] - horizontal[0] < MIN_CROP_PERCENT or vertical[1] - vertical[0] < MIN_CROP_PERCENT:
        st.caption(f"Each side of the crop must keep at least {MIN_CROP_PERCENT}% of the photo; using the whole photo.")
        return FULL_FRAME
    return crop_from_percent(horizontal, vertical)


def classify_drawing(run: RunInfo, rgba: np.ndarray):
    """Preprocess a canvas drawing (HxWx4) and classify it (raises EmptyImageError when blank)."""
    return predictor(run).classify_canvas(rgba)


def render_classification(result, *, key: str, outline: bool = False) -> None:
    """Original (with the found outline), the 28x28 model input, the prediction, the top 3 and all ten probabilities."""
    pre = result.preprocessed
    top_index, top_name, top_p = result.top3[0]
    left, middle, right = st.columns([1, 1, 2], gap="medium")
    with left:
        st.markdown("**Your image**" + (" and the garment found" if outline else ""))
        st.image(outline_overlay(pre.original, pre.mask, pre.crop) if outline else pre.original, width=220)
        if outline:
            st.caption("Outlined: what differs from the background in colour or brightness (shadows left out)."
                       + (" Framed: your crop." if pre.crop != FULL_FRAME else ""))
        elif pre.inverted:
            st.caption("Dark-on-light, so it was inverted to match Fashion-MNIST's light-on-black look.")
    with middle:
        st.markdown("**What the model sees (28×28)**")
        st.image(upscale_nearest(pre.as_uint8(), 4), width=112)  # shown 1:1, so the pixels stay crisp
        st.caption("The garment only, light on black with its shading kept, cropped, padded square and resized.")
    with right:
        st.markdown(f"### Prediction: {top_name}")
        st.markdown(f"Confidence **{format_percent(top_p, 1)}**")
        st.markdown(
            "\n".join(f"{rank}. {name} — {format_percent(p, 1)}" for rank, (_, name, p) in enumerate(result.top3, 1))
        )
        st.plotly_chart(probability_bars(result.probabilities, highlight=top_index), key=f"{key}_bars", width="stretch")

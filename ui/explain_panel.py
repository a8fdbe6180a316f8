"""Where the model looks, as one small panel any page can show beside a prediction.

Also the hand-over to the "Inside the model" page: the image a user drew, uploaded or picked in
the gallery travels in ``st.session_state`` (EXPLAIN_IMAGE_KEY / the page's own widget keys).
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from fmnist_core.constants import CLASS_NAMES
from fmnist_core.explain.attribution import METHOD_SENTENCES, METHOD_TITLES, Explanation, Method
from fmnist_core.explain.overlay import overlay_rgb
from fmnist_core.runs import RunInfo

from .layout import format_percent
from .loaders import predictor
from .navigation import PAGE_PATHS

EXPLAIN_IMAGE_KEY = "explain_image"  # {"image": (28,28) float32 in [0,1], "label": str}
PAGE_KEY = "inside_model"
# The page's widget keys that a hand-over sets (the page reads them as its defaults).
SOURCE_KEY = "im_source"
TEST_INDEX_KEY = "im_test_index"
SOURCE_TEST = "Test image"
SOURCE_TRAIN = "Training image"
SOURCE_CARRIED = "Last drawn or uploaded (Classify)"


def as_model_image(image: np.ndarray) -> np.ndarray:
    """(28,28) float32 in [0,1] from uint8 or float, (28,28) or (28,28,1)."""
    arr = np.asarray(image)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    return arr.reshape(28, 28)


@st.cache_data(show_spinner=False, max_entries=256)
def _explanation(run_id: str, sha: str, digest: str, image: np.ndarray, method: str, class_index: int | None,
                 _run: RunInfo) -> Explanation:
    from fmnist_core.explain.attribution import attributor_for  # imports TensorFlow

    return attributor_for(predictor(_run).model).explain(image, method, class_index)


def explanation(run: RunInfo, image: np.ndarray, method: Method | str, class_index: int | None = None) -> Explanation:
    """The run's heatmap for one image (cached per model checksum, image, method and class)."""
    img = as_model_image(image)
    digest = hashlib.sha256(img.tobytes()).hexdigest()
    return _explanation(run.run_id, str(run.meta.get("model_sha256", "")), digest, img, Method(method).value,
                        class_index, run)


def method_picker(key: str) -> Method:
    choice = st.radio("Method", list(Method), format_func=lambda m: METHOD_TITLES[m], horizontal=True,
                      key=f"{key}_method")
    return Method(choice)


def show_overlay(result: Explanation, *, opacity: float, width: int = 224) -> None:
    """The overlay image, its caption and the method's one-sentence explanation."""
    st.image(overlay_rgb(result.image, result.heatmap, opacity=opacity, scale=8), width=width,
             caption=f"{METHOD_TITLES[result.method]} for {CLASS_NAMES[result.class_index]} "
                     f"({format_percent(result.probability, 1)})")
    st.caption(METHOD_SENTENCES[result.method])


def render_overlay_panel(run: RunInfo, image: np.ndarray, *, key: str, label: str = "this image",
                         test_index: int | None = None) -> None:
    """Where the model looks for the predicted class, with method and opacity controls, and a link
    to the full "Inside the model" page with this image."""
    if test_index is None:
        carry_image(image, label)  # the "Inside the model" page offers the last drawn or uploaded image
    st.markdown("**Where the model looks**")
    method = method_picker(key)
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.6, 0.05, key=f"{key}_opacity")
    show_overlay(explanation(run, image, method), opacity=opacity)
    if st.button("Look inside the model", key=f"{key}_open", icon=":material/psychology:"):
        open_inside_model(image, label=label, test_index=test_index)


def carry_image(image: np.ndarray, label: str) -> None:
    """Remember an image (drawn or uploaded) for the "Inside the model" page."""
    st.session_state[EXPLAIN_IMAGE_KEY] = {"image": as_model_image(image), "label": label}


def open_inside_model(image: np.ndarray, *, label: str, test_index: int | None = None) -> None:
    """Switch to the page showing this image: a test image by index, any other as the carried image."""
    if test_index is not None:
        st.session_state[SOURCE_KEY] = SOURCE_TEST
        st.session_state[TEST_INDEX_KEY] = int(test_index)
    else:
        carry_image(image, label)
        st.session_state[SOURCE_KEY] = SOURCE_CARRIED
    st.switch_page(PAGE_PATHS[PAGE_KEY])

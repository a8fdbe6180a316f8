"""Fashion-MNIST Studio: explore the data, train classifiers, and understand their predictions.

Run with:  streamlit run app.py
"""

from __future__ import annotations

import os

import pandas  # noqa: F401 - import once up front: TensorFlow and Plotly import it lazily from different threads
import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any page imports TensorFlow

from ui.layout import sidebar_active_model  # noqa: E402
from ui.runtime import keep_keras_state_between_reruns  # noqa: E402

# Background training shares this process: Streamlit must not reset Keras between reruns.
keep_keras_state_between_reruns()

st.set_page_config(
    page_title="Fashion-MNIST Studio",
    page_icon=":material/checkroom:",
    layout="wide",
    initial_sidebar_state="expanded",
)

pages = {
    "": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Data": [
        st.Page("pages/data_explorer.py", title="Data explorer", icon=":material/grid_view:"),
        st.Page("pages/augmentation_lab.py", title="Augmentation lab", icon=":material/auto_fix_high:"),
    ],
    "Model": [
        st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
        st.Page("pages/predictions.py", title="Predictions", icon=":material/fact_check:"),
        st.Page("pages/classify.py", title="Classify", icon=":material/draw:"),
    ],
}

current = st.navigation(pages, position="sidebar")
sidebar_active_model()
current.run()

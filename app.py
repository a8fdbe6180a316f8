"""Fashion-MNIST Studio: explore the data, train classifiers, and understand their predictions.

Run with:  streamlit run app.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas  # noqa: F401 - import once up front: TensorFlow and Plotly import it lazily from different threads
import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any page imports TensorFlow

from ui.chart_preload import preload_chart_code
from ui.layout import sidebar_active_model
from ui.navigation import HOME_KEY, PAGES
from ui.warmup import start_warm_up

st.set_page_config(
    page_title="Fashion-MNIST Studio",
    page_icon=str(Path(__file__).resolve().parent / "assets" / "icon.png"),  # served by this server, no web font
    layout="wide",
    initial_sidebar_state="expanded",
)

sections: dict[str, list] = {}
for spec in PAGES:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.key == HOME_KEY)
    )

start_warm_up()  # once per process, in the background: data, TensorFlow, the default model's predictions

current = st.navigation(sections, position="sidebar")
sidebar_active_model()
current.run()
preload_chart_code()  # after the page: Plotly's browser code loads while the user reads it

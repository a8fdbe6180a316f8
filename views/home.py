"""Home: what the app does, the dataset, the active model's card, and links to every page.

This page must open fast, so it never imports TensorFlow: the model card reads run.json.
"""

from __future__ import annotations

import json

import streamlit as st

from fmnist_core.constants import CLASS_NAMES, IMAGE_SIZE, TEST_SIZE, TRAIN_SIZE, VALIDATION_SIZE
from fmnist_core.data import DataSource
from fmnist_core.models import ARCHITECTURES
from ui.layout import (
    data_missing_notice,
    format_count,
    format_duration,
    format_percent,
    guarded,
    no_model_notice,
    page_header,
)
from ui.loaders import data_source
from ui.navigation import HOME_KEY, PAGES
from ui.state import active_run

page_header(
    "home",
    "Explore the Fashion-MNIST clothing images, train convolutional networks on them in the background, "
    "and see exactly where and why a model is right or wrong. You can also draw or upload a garment "
    "and watch the active model classify it.",
    title="Fashion-MNIST Studio",
)

facts, model_col = st.columns([2, 3], gap="large")

with facts, guarded():
    st.subheader("The dataset", anchor=False)
    a, b, c = st.columns(3)
    a.metric("Training images", f"{TRAIN_SIZE:,}")
    b.metric("Test images", f"{TEST_SIZE:,}")
    c.metric("Classes", len(CLASS_NAMES))
    st.markdown(
        f"Grayscale {IMAGE_SIZE}×{IMAGE_SIZE} photos of Zalando articles, 6,000 training and 1,000 test "
        f"images per class. Training holds out {VALIDATION_SIZE:,} images (stratified) for validation, "
        "so the test set is only used for the final score."
    )
    st.markdown("**Classes:** " + " · ".join(CLASS_NAMES))
    source = data_source()  # the files' MD5s only: Home never waits for 70,000 images to be decoded
    if isinstance(source, DataSource):
        st.caption(f"Read from {source.description}.")
    else:
        data_missing_notice(source)

with model_col, guarded():
    st.subheader("Active model", anchor=False)
    run = active_run()
    if run is None:
        no_model_notice()
    else:
        config = run.config
        arch = ARCHITECTURES.get(run.architecture)
        with st.container(border=True):
            st.markdown(f"**{arch.title if arch else run.architecture}** — run `{run.run_id}`")
            if arch:
                st.caption(arch.description)
            size = run.meta.get("model") or {}
            params = size.get("parameters", run.meta.get("parameters"))
            macs = size.get("multiply_adds", run.meta.get("multiply_adds"))
            # Two metrics per row: four in a row cut the values and labels off ("Parameters 242.…").
            first, second = st.columns(2), st.columns(2)
            first[0].metric("Test accuracy", format_percent(run.test_accuracy))
            first[1].metric("Epochs", f"{run.epochs_completed} / {config.get('epochs', '?')}")
            if params is not None:
                second[0].metric("Parameters", format_count(params))
            if macs is not None:
                second[1].metric("Multiply-adds / image", format_count(macs))
            when = run.meta.get("ended_at") or run.meta.get("started_at") or "unknown time"
            st.markdown(
                f"Trained {when.replace('T', ' ')} in {format_duration(run.meta.get('train_seconds'))} "
                f"({run.status}). Validation: {config.get('validation', '?')}."
            )
            command = run.meta.get("command")
            if command:
                st.markdown("How it was trained:")
                st.code(command, language="bash", wrap_lines=True)  # whole, not cut at the column's edge
            with st.expander("Full training configuration"):
                st.code(json.dumps(config, indent=2, sort_keys=True), language="json")

st.divider()
st.subheader("Where to go", anchor=False)
links = [spec for spec in PAGES if spec.key != HOME_KEY]
columns = st.columns(len(links))
for column, spec in zip(columns, links):
    with column:
        st.page_link(spec.path, label=spec.title, icon=spec.icon)
        st.caption(spec.description)

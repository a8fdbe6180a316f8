"""Data explorer: a captioned grid of samples (filter, shuffle, page), class balance, mean images."""

from __future__ import annotations

import math

import streamlit as st

from fmnist_core.charts import class_counts_figure, image_grid, mean_images_figure
from fmnist_core.constants import CLASS_NAMES
from ui.layout import guarded, page_header
from ui.loaders import class_counts_both, class_mean_images, require_dataset, shuffled_indices, split_arrays

page_header(
    "data",
    "Every image is 28×28 grayscale with one of ten labels. Filter by class, reshuffle, and page through "
    "either set; below, how many images each class has and what its average image looks like.",
)

require_dataset()  # without the data: one message (where it looked, what to set) and nothing else

SPLIT_LABELS = {"train": "Training set", "test": "Test set"}
SPLIT_SHORT = {"train": "Training", "test": "Test"}
PER_PAGE = [16, 24, 32, 48, 64]

state = st.session_state
state.setdefault("dx_seed", 0)


def _reshuffle() -> None:
    state["dx_seed"] = int(state.get("dx_seed", 0)) + 1
    state["dx_page"] = 1


def _reset_page() -> None:
    state["dx_page"] = 1


with guarded():
    controls = st.columns([1.3, 3, 1, 1, 1], vertical_alignment="bottom")
    split = controls[0].segmented_control(
        "Set", list(SPLIT_LABELS), format_func=SPLIT_SHORT.get, default="train", required=True,
        key="dx_split", on_change=_reset_page, persist_state="session",
    )
    chosen = controls[1].multiselect(
        "Classes", list(CLASS_NAMES), key="dx_classes", placeholder="All classes",
        on_change=_reset_page, persist_state="session",
    )
    per_page = controls[2].selectbox("Images per page", PER_PAGE, index=1, key="dx_per_page",
                                     on_change=_reset_page, persist_state="session")
    controls[3].number_input("Shuffle seed", min_value=0, max_value=1_000_000, step=1, key="dx_seed",
                             on_change=_reset_page, persist_state="session")
    controls[4].button("Reshuffle", icon=":material/shuffle:", on_click=_reshuffle, width="stretch")

    split = split or "train"
    class_ids = tuple(CLASS_NAMES.index(name) for name in chosen)
    indices = shuffled_indices(split, class_ids, int(state["dx_seed"]))
    pages = max(1, math.ceil(len(indices) / per_page))
    if int(state.get("dx_page", 1)) > pages:
        state["dx_page"] = 1
    page_col, info_col = st.columns([1, 4], vertical_alignment="bottom")
    page = page_col.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="dx_page")
    shown = indices[(page - 1) * per_page : page * per_page]
    what = ", ".join(chosen) if chosen else "all classes"
    info_col.caption(
        f"{len(indices):,} images of {what} in the {SPLIT_LABELS[split].lower()}; "
        f"showing {len(shown)} (seed {state['dx_seed']}). Hover an image for pixel values."
    )
    images, labels = split_arrays(split)
    titles = [f"{CLASS_NAMES[labels[i]]}<br>#{i}" for i in shown]
    st.plotly_chart(image_grid(images[shown], titles, cols=8), key="dx_grid", width="content",
                    config={"displayModeBar": False})

with guarded():
    st.subheader("Images per class", anchor=False)
    train_counts, test_counts = class_counts_both()
    balanced = train_counts.min() == train_counts.max() and test_counts.min() == test_counts.max()
    st.caption(
        f"Balanced: {int(train_counts[0]):,} training and {int(test_counts[0]):,} test images in every class."
        if balanced
        else f"Between {int(train_counts.min()):,} and {int(train_counts.max()):,} training images per class."
    )
    st.plotly_chart(class_counts_figure(train_counts, test_counts), key="dx_counts", width="stretch")

with guarded():
    st.subheader("The average image of each class", anchor=False)
    st.caption(
        f"The pixel-wise mean of every image of a class in the {SPLIT_LABELS[split].lower()}: the shapes "
        "a model can key on. Shirt, T-shirt, pullover and coat look alike, which is where models err most."
    )
    st.plotly_chart(mean_images_figure(class_mean_images(split)), key="dx_means", width="content",
                    config={"displayModeBar": False})

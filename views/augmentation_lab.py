"""Augmentation lab: one image through the exact augmentation layers training uses, live."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.augmentation import SEED_REPORT_AUGMENTATION
from fmnist_core.charts import augmentation_figure
from fmnist_core.constants import CLASS_NAMES, TRAIN_SIZE
from ui.layout import guarded, page_header
from ui.loaders import augmented_previews, class_indices, photo_render, require_dataset, split_arrays
from ui.navigation import PAGE_PATHS
from ui.settings_widgets import augmentation_controls
from ui.training_form import LAB_HANDOFF_KEY

page_header(
    "augmentation",
    "Random rotations, shifts, zooms, flips and erased patches show the network a slightly different image "
    "every epoch. "
    "Pick an image and tune the settings: the previews run through the very layer stack used in training.",
)

state = st.session_state
PICK_MODES = {"class": "By class", "index": "By index", "random": "At random"}
COUNTS = [8, 12, 16]
LAB_PREFIX = "lab_"
state.setdefault("lab_random_index", 0)


def _new_random() -> None:
    state["lab_random_index"] = int(np.random.default_rng().integers(TRAIN_SIZE))


require_dataset()  # without the data: one message and nothing else
with guarded():
    images, labels = split_arrays("train")
    pick, settings = st.columns([1, 2], gap="large")
    with pick:
        st.subheader("Image", anchor=False)
        mode = st.segmented_control("Pick an image", list(PICK_MODES), format_func=PICK_MODES.get, default="class",
                                    required=True, key="lab_pick_mode", persist_state="session") or "class"
        if mode == "class":
            name = st.selectbox("Class", CLASS_NAMES, key="lab_class", persist_state="session")
            members = class_indices("train", CLASS_NAMES.index(name))
            nth = st.number_input(f"Example (1–{len(members):,})", min_value=1, max_value=len(members), step=1,
                                  key="lab_nth", persist_state="session")
            index = int(members[nth - 1])
        elif mode == "index":
            index = int(st.number_input(f"Training image index (0–{len(labels) - 1:,})", min_value=0,
                                        max_value=len(labels) - 1, step=1, key="lab_index", persist_state="session"))
        else:
            st.button("Pick another random image", icon=":material/casino:", on_click=_new_random)
            index = int(state["lab_random_index"]) % len(labels)
        st.caption(f"Training image #{index:,}: **{CLASS_NAMES[labels[index]]}**")

    with settings:
        st.subheader("Settings", anchor=False)
        # Opens on the seed report's settings, so the first view shows augmentation.
        config = augmentation_controls(LAB_PREFIX, initial=SEED_REPORT_AUGMENTATION)
        c4, c5 = st.columns(2)
        seed = c4.number_input("Preview seed", min_value=0, max_value=1_000_000, step=1, key="lab_seed",
                               persist_state="session")
        count = c5.selectbox("Versions", COUNTS, key="lab_count", persist_state="session")

    if not config.enabled:
        st.info("Every transform is off, so each version equals the original. Move a slider to see augmentation.",
                icon=":material/tune:")
    augmented = augmented_previews("train", index, config.to_dict(), int(count), int(seed))
    st.plotly_chart(augmentation_figure(images[index], augmented, cols=min(9, int(count) + 1)), key="lab_grid",
                    width="content", config={"displayModeBar": False})
    st.caption("The same seed gives the same versions; change it to draw new random transforms.")

    if st.button("Use these settings for training", type="primary", icon=":material/model_training:"):
        state[LAB_HANDOFF_KEY] = config.to_dict()
        st.switch_page(PAGE_PATHS["training"])

    with st.expander("As a photo: what the Training page's photo renders add", icon=":material/photo_camera:"):
        st.caption(
            "Not a layer of the stack above: a setting of its own (Photo renders, on the Training page). The image "
            "is rendered as a photo (coloured, on a textured and unevenly lit surface, rotated, with a shadow, saved "
            "as a JPEG), then sent through the Classify page's pipeline; the 28x28 it makes is added to the "
            "training set, so the model learns what a photo looks like after the pipeline."
        )
        if st.toggle("Show this image as a photo", key="lab_show_photo"):
            example = photo_render("train", index)
            photo_col, input_col = st.columns(2)
            photo_col.image(example.photo, caption="The rendered photo", width="stretch")
            if example.model_input is None:
                input_col.warning("The pipeline found no garment in this render: training skips it.",
                                  icon=":material/visibility_off:")
            else:
                input_col.image(example.model_input, caption="What the model is trained on (28x28)", width=280)

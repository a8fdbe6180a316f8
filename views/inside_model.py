"""Inside the model: the layer stack, every feature map, the learned filters and where the model looks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fmnist_core.charts import image_grid, probability_bars
from fmnist_core.constants import CLASS_NAMES
from fmnist_core.explain.activations import activations, most_active_channels, probe_for
from fmnist_core.explain.attribution import METHOD_TITLES, Method
from fmnist_core.explain.convolution import convolution_map, convolution_step, first_conv
from fmnist_core.explain.figures import (
    activation_grid_figure,
    convolution_equation,
    convolution_step_figure,
    kernels_figure,
    layer_stack_figure,
    layer_table_rows,
    vector_bars_figure,
)
from fmnist_core.explain.filters import top_images_for_run
from fmnist_core.explain.layers import layer_table
from ui.classify import upscale_nearest
from ui.explain_panel import (
    EXPLAIN_IMAGE_KEY,
    SOURCE_CARRIED,
    SOURCE_KEY,
    SOURCE_TEST,
    SOURCE_TRAIN,
    TEST_INDEX_KEY,
    explanation,
    show_overlay,
)
from ui.layout import format_count, format_percent, guarded, no_model_notice, page_header
from ui.loaders import data_fingerprint, predictor, split_arrays
from ui.state import active_run, run_store, usable

page_header(
    "inside_model",
    "How your model turns 28×28 pixels into a prediction: its layers, the feature maps each one computes, the "
    "filters it learned, where it looks, and one convolution worked out number by number.",
)
state = st.session_state


@st.cache_resource(show_spinner=False, max_entries=4)
def _layer_table(run_id: str, sha: str, _model):
    return layer_table(_model)


@st.cache_data(show_spinner="Finding the test images each channel responds to most (once per model)…",
               max_entries=4)
def _top_images(run_id: str, sha: str, fingerprint: str, _run, _model):
    x_test, _ = split_arrays("test")
    return top_images_for_run(_run, _model, x_test, data_key=fingerprint)


def _next_position(count: int) -> None:
    """Slide the window one output pixel on (wrapping around), like a play button's single step."""
    state["im_conv_position"] = (int(state.get("im_conv_position", -1)) + 1) % count


with guarded():
    active = active_run()
    runs = [run for run in run_store().list_runs() if usable(run)]
    if active is None or not runs:
        no_model_notice()
        st.stop()
    ids = [run.run_id for run in runs]
    by_id = {run.run_id: run for run in runs}
    if state.get("im_run") not in by_id:
        state["im_run"] = active.run_id if active.run_id in by_id else ids[0]
    test_param = st.query_params.get("test")
    if test_param is not None and test_param.isdigit():  # opened by a link: ?test=N
        state[SOURCE_KEY], state[TEST_INDEX_KEY] = SOURCE_TEST, int(test_param)
        del st.query_params["test"]

    carried = state.get(EXPLAIN_IMAGE_KEY)
    sources = [SOURCE_TEST, SOURCE_TRAIN] + ([SOURCE_CARRIED] if carried else [])
    if state.get(SOURCE_KEY) not in sources:
        state[SOURCE_KEY] = SOURCE_TEST

    c1, c2, c3 = st.columns([2, 2, 1.2], vertical_alignment="bottom")
    run_id = c1.selectbox("Model (saved run)", ids, key="im_run",
                          format_func=lambda r: f"{r} ({by_id[r].architecture}, "
                                                f"{format_percent(by_id[r].test_accuracy)})")
    source = c2.radio("Image", sources, key=SOURCE_KEY, horizontal=True)
    run = by_id[run_id]
    model = predictor(run).model
    sha = str(run.meta.get("model_sha256", ""))
    if source == SOURCE_CARRIED:
        image = np.asarray(carried["image"], np.float32).reshape(28, 28)
        image_label = carried.get("label", "your image")
        truth = None
    else:
        split = "test" if source == SOURCE_TEST else "train"
        images, labels = split_arrays(split)
        key = TEST_INDEX_KEY if split == "test" else "im_train_index"
        state.setdefault(key, 0)
        state[key] = min(max(0, int(state[key])), len(images) - 1)
        index = c3.number_input(f"Index (0–{len(images) - 1:,})", 0, len(images) - 1, step=1, key=key)
        image = images[int(index)].astype(np.float32) / 255.0
        image_label = f"{split} image #{int(index)}"
        truth = int(labels[int(index)])

    acts = activations(model, image)
    predicted = int(np.argmax(acts.probabilities))
    left, right = st.columns([1, 3], gap="large")
    with left:
        st.image(upscale_nearest((image * 255).astype(np.uint8), 6), width=168, caption=image_label)
        confidence = format_percent(float(acts.probabilities[predicted]), 1)
        st.markdown(f"Prediction: **{CLASS_NAMES[predicted]}** ({confidence})"
                    + (f"  \nTrue class: **{CLASS_NAMES[truth]}**" if truth is not None else ""))
    with right:
        st.plotly_chart(probability_bars(acts.probabilities, highlight=predicted), key="im_probs", width="stretch")
        st.caption("The softmax layer's ten probabilities: the model's final answer.")

    # Only the open tab's content runs (on_change="rerun"), so changing the image or the class re-runs one
    # section, not five.
    tab_layers, tab_maps, tab_filters, tab_looks, tab_conv = st.tabs(
        ["Layers", "Feature maps", "Filters", "Where it looks", "One convolution"], key="im_tab", on_change="rerun")

    with tab_layers:
        if tab_layers.open:
            table = _layer_table(run_id, sha, model)
            st.plotly_chart(layer_stack_figure(table), key="im_stack", width="stretch")
            st.dataframe(pd.DataFrame(layer_table_rows(table)), hide_index=True, width="stretch",
                         column_config={"Parameters": st.column_config.NumberColumn(format="localized"),
                                        "Multiply-adds": st.column_config.NumberColumn(format="localized")})
            st.markdown(f"Total: **{table.total_parameters:,}** parameters, "
                        f"**{format_count(table.total_multiply_adds)}** multiply-adds per image.")
            for note in table.notes:
                st.info(note, icon=":material/flip:")

    with tab_maps:
        if tab_maps.open:
            count = st.slider("Feature maps per layer (most active first)", 4, 64, 16, 4, key="im_map_count")
            if probe_for(model).mirrored:
                st.caption("Feature maps are the plain view's; the probabilities average it with the mirror view.")
            for stage in acts.maps():
                h, w, c = stage.values.shape
                channels = most_active_channels(stage.values, min(count, c))
                st.plotly_chart(activation_grid_figure(stage.values, channels, cols=8,
                                                       title=f"{stage.name} ({' → '.join(stage.spec.layer_names)}): "
                                                             f"{h}×{w}, {len(channels)} of {c} maps"),
                                key=f"im_maps_{stage.name}", width="stretch")
            for stage in acts.vectors():
                st.plotly_chart(vector_bars_figure(stage.values, title=f"{stage.name}: {stage.values.size} values"),
                                key=f"im_vec_{stage.name}", width="stretch")

    with tab_filters:
        if tab_filters.open:

            conv = first_conv(model)
            st.plotly_chart(kernels_figure(conv.kernels, title=f"The {conv.channels} kernels of {conv.layer_name} "
                                                                "(red adds brightness, blue subtracts)"),
                            key="im_kernels", width="stretch")
            if st.toggle("Find the test images that excite a channel most", key="im_top_on",
                         help="Scans the 10,000 test images once per model and keeps the result with the run."):
                names = probe_for(model).conv_stage_names
                f1, f2 = st.columns(2)
                stage_name = f1.selectbox("Convolution layer", names, key="im_top_layer")
                channels = int(acts.stage(stage_name).values.shape[-1])
                channel = f2.number_input(f"Channel (0–{channels - 1})", 0, channels - 1, 0, key="im_top_channel")
                top = _top_images(run_id, sha, data_fingerprint(), run, model)
                idx, scores = top.for_channel(stage_name, int(channel))
                x_test, y_test = split_arrays("test")
                st.plotly_chart(image_grid(x_test[idx], [f"#{i} {CLASS_NAMES[y_test[i]]}<br>peak {s:.2f}"
                                                         for i, s in zip(idx, scores)], cols=9, size_px=80),
                                key="im_top_grid", width="content", config={"displayModeBar": False})
                st.caption("What this channel looks for: the nine test images where it responds most strongly.")

    with tab_looks:
        if tab_looks.open:
            class_options = [None, *range(len(CLASS_NAMES))]
            l1, l2 = st.columns([2, 2])
            chosen = l1.selectbox("Explain the class", class_options, key="im_class",
                                  format_func=lambda c: f"Predicted ({CLASS_NAMES[predicted]})" if c is None
                                  else CLASS_NAMES[c])
            opacity = l2.slider("Heatmap opacity", 0.0, 1.0, 0.6, 0.05, key="im_opacity")
            if chosen is not None and chosen != predicted:
                st.caption(f"Why not {CLASS_NAMES[chosen]}? The maps show what speaks *for* {CLASS_NAMES[chosen]} "
                           f"in this image ({format_percent(float(acts.probabilities[chosen]), 1)}).")
            cols = st.columns(3)
            for col, method in zip(cols, Method):
                with col:
                    st.markdown(f"**{METHOD_TITLES[method]}**")
                    show_overlay(explanation(run, image, method, chosen), opacity=opacity, width=210)

    with tab_conv:
        if tab_conv.open:

            conv = first_conv(model)
            size = conv.output_size()
            k1, k2, k3 = st.columns([1, 3, 1], vertical_alignment="bottom")
            channel = k1.number_input(f"Channel (0–{conv.channels - 1})", 0, conv.channels - 1, 0,
                                      key="im_conv_channel")
            k3.button("Next pixel", icon=":material/skip_next:", key="im_conv_next", on_click=_next_position,
                      args=(size * size,))
            position = k2.slider("Window position (left to right, top to bottom)", 0, size * size - 1,
                                 size * (size // 2) + size // 2, key="im_conv_position")
            row, col = divmod(int(position), size)
            step = convolution_step(image, conv, int(channel), row, col)
            st.plotly_chart(convolution_step_figure(image, conv, step, convolution_map(image, conv, int(channel))),
                            key="im_conv_fig", width="stretch")
            st.markdown(f"Output pixel (row {row}, column {col}) of channel {int(channel)}: "
                        + convolution_equation(step, conv))
            st.caption(f"{conv.layer_name} slides each {conv.kernel_size}×{conv.kernel_size} kernel over the image "
                       f"({'zero-padded at the edges' if conv.padding == 'same' else 'no padding'}): "
                       "every output pixel "
                       "is the sum of nine pixel × weight products plus a bias"
                       + (", rescaled by batch normalisation" if not np.allclose(conv.scale, 1) else "")
                       + (", and ReLU turns negative sums into 0." if conv.relu else "."))

"""Classify: draw a garment or upload a photo; see what the model sees and what it predicts."""

from __future__ import annotations

import streamlit as st

from fmnist_core.errors import EmptyImageError, FmnistError
from ui.classify import UPLOAD_TYPES, classify_drawing, classify_upload, crop_sliders, render_classification
from ui.explain_panel import render_overlay_panel
from ui.layout import format_percent, guarded, no_model_notice, page_header, show_error
from ui.state import active_run

page_header(
    "classify",
    "Draw a garment or upload a photo. It is turned into a Fashion-MNIST style 28×28 image (light object on "
    "black, cropped and centred) and classified by the active model.",
)

state = st.session_state
state.setdefault("cl_canvas_version", 0)


def _clear_canvas() -> None:
    state["cl_canvas_version"] = int(state["cl_canvas_version"]) + 1


with guarded():
    run = active_run()
    if run is None:
        no_model_notice()
        st.stop()
    st.caption(f"Using model `{run.run_id}` ({format_percent(run.test_accuracy)} on the test set).")

    draw_tab, upload_tab = st.tabs(["Draw", "Upload"])

    with draw_tab:
        try:
            from streamlit_drawable_canvas import st_canvas  # needs a running Streamlit
        except Exception:  # noqa: BLE001 - any failure of the third-party widget means "no canvas"
            st_canvas = None
        if st_canvas is None:
            st.warning("The drawing canvas is not available on this server (streamlit-drawable-canvas could not "
                       "be loaded). Use the Upload tab instead.", icon=":material/block:")
        else:
            # The canvas and its controls side by side, the result below at the page's full width (as on
            # the Upload tab), so the probability chart gets room instead of a third of a column.
            canvas_col, controls_col = st.columns([1, 2], gap="large")
            with controls_col:
                brush = st.slider("Brush width", 4, 40, 18, key="cl_brush")
                st.button("Clear the canvas", icon=":material/delete:", on_click=_clear_canvas)
                st.caption("Draw in white on black, large and centred, like the training images.")
            with canvas_col:
                drawing = st_canvas(
                    stroke_width=brush,
                    stroke_color="#FFFFFF",
                    background_color="#000000",
                    height=280,
                    width=280,
                    drawing_mode="freedraw",
                    return_image_data=True,
                    key=f"cl_canvas_{state['cl_canvas_version']}",
                )
            pixels = drawing.image_data
            if pixels is None:
                st.info("Draw a garment on the black canvas to classify it.", icon=":material/gesture:")
            else:
                try:
                    drawn = classify_drawing(run, pixels)
                    render_classification(drawn, key="cl_draw")
                    render_overlay_panel(run, drawn.preprocessed.model_input, key="cl_draw_x", label="your drawing")
                except EmptyImageError:
                    st.info("Draw a garment on the black canvas to classify it.", icon=":material/gesture:")
                except FmnistError as exc:
                    show_error(exc)

    with upload_tab:
        upload = st.file_uploader(
            "Upload an image of one garment (PNG, JPEG, WebP or GIF, up to 5 MB)", type=UPLOAD_TYPES, key="cl_upload"
        )
        if upload is None:
            st.info("Upload a photo of a single garment lying on a surface that differs from it in colour or "
                    "brightness (a table, a bed, a floor).", icon=":material/upload:")
        else:
            crop = crop_sliders(f"cl_crop_{upload.file_id}")  # new file, fresh sliders
            try:
                result = classify_upload(run, upload.getvalue(), crop)
            except FmnistError as exc:
                show_error(exc)
            else:
                render_classification(result, key="cl_upload", outline=True)
                render_overlay_panel(run, result.preprocessed.model_input, key="cl_upload_x", label=upload.name)

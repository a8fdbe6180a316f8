"""Predictions: how the active model does on the 10,000 test images, class by class and image by image."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from fmnist_core.charts import confusion_matrix_figure, per_class_metrics_figure, prediction_grid, probability_bars
from fmnist_core.constants import CLASS_NAMES
from fmnist_core.evaluation import select_examples, top_k
from ui.classify import upscale_nearest
from ui.compare_panel import fixed_and_broken_panel
from ui.explain_panel import render_overlay_panel
from ui.layout import format_percent, guarded, no_model_notice, page_header
from ui.loaders import evaluation, require_dataset, split_arrays
from ui.state import active_run, run_store, usable

page_header(
    "predictions",
    "The active model on the test set: where it confuses classes, how each class scores, and the "
    "individual images it gets right and wrong (mistakes in red).",
)

state = st.session_state
SORTS = {"confidence_desc": "Most confident first", "confidence_asc": "Least confident first",
         "index": "Test-set order"}
PER_PAGE = [12, 24, 36, 48]


def _reset_page() -> None:
    state["pr_page"] = 1


with guarded():
    run = active_run()
    if run is None:
        no_model_notice()
        st.stop()
    require_dataset()
    result = evaluation(run)
    x_test, _ = split_arrays("test")
    errors = int((~result.correct).sum())

    st.markdown(f"Model `{run.run_id}` ({run.architecture})")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Test accuracy", format_percent(result.accuracy))
    m2.metric("Test loss", f"{result.loss:.4f}", help="Mean cross-entropy of the true class.")
    m3.metric("Misclassified", f"{errors:,} of {len(result.y_true):,}")
    m4.metric("Mean confidence", format_percent(float(result.confidence.mean()), 1))

    tab_matrix, tab_classes, tab_gallery, tab_compare = st.tabs(
        ["Confusion matrix", "Per-class scores", "Gallery", "Fixed and broken"])
    with tab_compare:  # another run against this one, image by image (ui/compare_panel.py)
        others = [other for other in run_store().list_runs() if usable(other) and other.run_id != run.run_id]
        fixed_and_broken_panel(run, others, evaluation, x_test)
    with tab_matrix:
        normalize = st.toggle("Show row percentages (recall)", key="pr_normalize")
        st.plotly_chart(confusion_matrix_figure(result.confusion, normalize=normalize), key="pr_confusion",
                        width="stretch")
        st.caption("Rows are the true class, columns the predicted class; the diagonal is correct.")

    with tab_classes:
        metrics = result.per_class()
        st.plotly_chart(per_class_metrics_figure(metrics["precision"], metrics["recall"], metrics["f1"]),
                        key="pr_per_class", width="stretch")
        table = pd.DataFrame(
            {
                "Class": list(CLASS_NAMES),
                "Precision": metrics["precision"],
                "Recall": metrics["recall"],
                "F1": metrics["f1"],
                "Support": metrics["support"].astype(int),
            }
        )
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                name: st.column_config.ProgressColumn(name, format="percent", min_value=0.0, max_value=1.0)
                for name in ("Precision", "Recall", "F1")
            },
        )

    with tab_gallery:
        f1, f2, f3, f4 = st.columns([2, 2, 1.2, 1.2], vertical_alignment="bottom")
        true_names = f1.multiselect("True class", CLASS_NAMES, key="pr_true", placeholder="Any",
                                    on_change=_reset_page, persist_state="session")
        pred_names = f2.multiselect("Predicted class", CLASS_NAMES, key="pr_pred", placeholder="Any",
                                    on_change=_reset_page, persist_state="session")
        sort = f3.selectbox("Order", list(SORTS), format_func=SORTS.get, key="pr_sort", on_change=_reset_page,
                            persist_state="session")
        per_page = f4.selectbox("Per page", PER_PAGE, index=1, key="pr_per_page", on_change=_reset_page,
                                persist_state="session")
        wrong_only = st.toggle("Misclassified only", key="pr_wrong_only", on_change=_reset_page,
                               persist_state="session")

        indices = select_examples(
            result,
            true_classes=[CLASS_NAMES.index(n) for n in true_names],
            predicted_classes=[CLASS_NAMES.index(n) for n in pred_names],
            misclassified_only=wrong_only,
            sort=sort,
        )
        if len(indices) == 0:
            st.info("No test image matches these filters. Remove a class filter or turn off 'Misclassified only'.",
                    icon=":material/filter_alt_off:")
            st.stop()
        pages = max(1, math.ceil(len(indices) / per_page))
        if int(state.get("pr_page", 1)) > pages:
            state["pr_page"] = 1
        p1, p2 = st.columns([1, 4], vertical_alignment="bottom")
        page = p1.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="pr_page")
        shown = indices[(page - 1) * per_page : page * per_page]
        wrong_shown = int((~result.correct[shown]).sum())
        p2.caption(f"{len(indices):,} matching test images; this page shows {len(shown)}, {wrong_shown} of them wrong.")
        st.plotly_chart(
            prediction_grid(x_test[shown], result.y_true[shown], result.y_pred[shown], result.confidence[shown],
                            cols=6),
            key="pr_grid", width="content", config={"displayModeBar": False},
        )

        st.markdown("**Look closer at one image**")

        def _label(i: int) -> str:
            mark = "✓" if result.correct[i] else "✗"
            return (f"#{i} {mark} true {CLASS_NAMES[result.y_true[i]]}, predicted {CLASS_NAMES[result.y_pred[i]]} "
                    f"({format_percent(float(result.confidence[i]), 1)})")

        chosen = st.selectbox("Image on this page", [int(i) for i in shown], format_func=_label, key="pr_selected")
        if chosen is not None:
            c1, c2, c3 = st.columns([1, 1.2, 2.5], gap="medium")
            c1.image(upscale_nearest(x_test[chosen], 6), caption=f"Test image #{chosen}", width=168)
            with c2:
                truth = CLASS_NAMES[result.y_true[chosen]]
                st.markdown(f"True class: **{truth}**")
                st.markdown("Top 3:\n" + "\n".join(
                    f"{rank}. {name} — {format_percent(p, 1)}"
                    for rank, (_, name, p) in enumerate(top_k(result.probabilities[chosen], 3), 1)
                ))
            with c3:
                st.plotly_chart(probability_bars(result.probabilities[chosen]), key="pr_bars", width="stretch")
            render_overlay_panel(run, x_test[chosen], key="pr_explain", label=f"test image #{chosen}",
                                 test_index=chosen)

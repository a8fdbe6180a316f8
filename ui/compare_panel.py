"""Compare what changed: two runs' architecture and settings differences (Training page, beside the
overlaid curves) and the test images one gets right and the other wrong (Predictions page)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from fmnist_core.archspec_diff import architecture_diff
from fmnist_core.archspec_store import run_architecture_spec
from fmnist_core.charts import CORRECT_COLOR, WRONG_COLOR, image_grid
from fmnist_core.constants import CLASS_NAMES
from fmnist_core.errors import FmnistError
from fmnist_core.run_compare import fixed_and_broken
from fmnist_core.runs import RunInfo, RunStore

from .layout import format_count, format_percent

GALLERY_LIMIT = 36
_NOT_SETTINGS = {"architecture", "architecture_spec"}


def settings_changes(before: dict, after: dict) -> list[str]:
    """'epochs 7 → 10'-style lines for the training settings that differ (augmentation flattened)."""
    def flat(config: dict) -> dict:
        out = {key: value for key, value in config.items() if key not in _NOT_SETTINGS and not isinstance(value, dict)}
        out.update({f"augmentation {k}": v for k, v in (config.get("augmentation") or {}).items()})
        return out

    a, b = flat(before), flat(after)
    return [f"{key.replace('_', ' ')} {a.get(key)} → {b.get(key)}" for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)]


def architecture_change_panel(store: RunStore, run_ids: Sequence[str]) -> None:
    """For two chosen runs (older = before): the test-accuracy difference and what changed in between."""
    if len(run_ids) != 2:
        st.caption("Choose exactly two runs to see what changed between them: layers added, removed or changed, "
                   "and the settings.")
        return
    before, after = sorted((store.get(run_id) for run_id in run_ids), key=lambda r: r.meta.get("started_at") or "")
    st.markdown(f"**What changed** from `{before.run_id}` (before) to `{after.run_id}` (after)")
    try:
        diff = architecture_diff(run_architecture_spec(before.meta), run_architecture_spec(after.meta))
    except FmnistError as exc:
        st.caption(f"The architectures cannot be compared: {exc}")
        return
    m1, m2, m3 = st.columns(3)
    acc_a, acc_b = before.test_accuracy, after.test_accuracy
    delta = None if acc_a is None or acc_b is None else f"{100 * (acc_b - acc_a):+.2f} points"
    m1.metric("Test accuracy after", format_percent(acc_b), delta=delta)
    m2.metric("Parameters after", format_count(diff.parameters[1]),
              delta=f"{diff.parameters[1] - diff.parameters[0]:+,}", delta_color="off")
    m3.metric("Multiply-adds after", format_count(diff.multiply_adds[1]),
              delta=f"{diff.multiply_adds[1] - diff.multiply_adds[0]:+,}", delta_color="off")
    lines = [change.describe() for change in diff.changes]
    st.markdown("Architecture: " + ("the same network." if diff.same else "\n" + "\n".join(f"- {x}" for x in lines)))
    settings = settings_changes(before.config, after.config)
    st.markdown("Settings: " + ("the same." if not settings else "\n" + "\n".join(f"- {x}" for x in settings)))


def _gallery(images, indices, y_true, pred_before, pred_after, key: str) -> None:
    shown = indices[:GALLERY_LIMIT]
    titles = [f"before: {CLASS_NAMES[pred_before[i]]}<br>after: {CLASS_NAMES[pred_after[i]]}" for i in shown]
    colors = [CORRECT_COLOR if pred_after[i] == y_true[i] else WRONG_COLOR for i in shown]
    st.plotly_chart(image_grid(images[shown], titles, cols=6, title_colors=colors), key=key, width="content",
                    config={"displayModeBar": False})
    if len(indices) > GALLERY_LIMIT:
        st.caption(f"The first {GALLERY_LIMIT} of {len(indices):,}, in test-set order.")


def fixed_and_broken_panel(run: RunInfo, others: Sequence[RunInfo], evaluation, images) -> None:
    """The active run against another ("before"): what it fixed and what it broke, as two galleries.

    `evaluation(run)` returns a run's cached EvaluationResult; nothing is evaluated until a run is chosen.
    """
    if not others:
        st.info("Train another run to compare it with this one, image by image.", icon=":material/info:")
        return
    by_id = {other.run_id: other for other in others}
    chosen = st.selectbox("Compare with the run before the change", list(by_id), index=None, key="pr_compare_run",
                          placeholder="Choose a run")
    if chosen is None:
        st.caption("Shows the test images that one run gets right and the other wrong: what a change fixed and "
                   "what it broke.")
        return
    before, after = evaluation(by_id[chosen]), evaluation(run)
    result = fixed_and_broken(after.y_true, before.y_pred, after.y_pred)
    st.markdown(f"Before `{chosen}` → after `{run.run_id}` (the active model): **{len(result.fixed):,} fixed**, "
                f"**{len(result.broken):,} broken**, net {result.net:+,} images "
                f"({format_percent(before.accuracy)} → {format_percent(after.accuracy)}).")
    fixed_tab, broken_tab = st.tabs([f"Fixed ({len(result.fixed):,})", f"Broken ({len(result.broken):,})"])
    galleries = ((fixed_tab, result.fixed, "pr_fixed_grid"), (broken_tab, result.broken, "pr_broken_grid"))
    for tab, indices, key in galleries:
        with tab:
            if len(indices):
                _gallery(images, indices, after.y_true, before.y_pred, after.y_pred, key)
            else:
                st.caption("None.")

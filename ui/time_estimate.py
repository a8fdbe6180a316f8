"""How long a training run will take on this machine, shown before Start (from measured throughput).

The figure comes from fmnist_core.archspec_speed: this machine's own runs of the same network when
there are any, else a few training steps of that network timed here on request, else this machine's
runs of other networks (a wider range). It is never a fixed sentence: on a laptop without AVX-512 the
same run can take three times as long as on the machine the presets were tuned on.
"""

from __future__ import annotations

import json

import streamlit as st

from fmnist_core.archspec import ArchitectureSpec, layer_table, spec_from_dict
from fmnist_core.archspec_speed import Throughput, estimate_from_runs, photo_render_count
from fmnist_core.config import TrainConfig
from fmnist_core.errors import FmnistError

from .layout import format_duration
from .loaders import photo_renders_made
from .state import run_store

MEASURED_KEY = "tr_measured_throughput"  # {architecture spec JSON: Throughput} timed in this session


@st.cache_data(ttl=60, show_spinner=False)
def runs_figures(run_ids: tuple[str, ...]) -> list[tuple[dict, dict]]:
    """Each run's metadata and history (what the rate is measured from), re-read when the runs change."""
    store = run_store()
    return [(run.meta, run.history()) for run in store.list_runs() if run.run_id in run_ids]


@st.cache_resource(show_spinner="Timing a few training steps on this machine…", max_entries=16)
def measured_throughput(spec_json: str) -> Throughput:
    """Training multiply-adds a second of this network here (imports TensorFlow; once per network)."""
    from fmnist_core.archspec_build import measure_throughput

    spec = spec_from_dict(json.loads(spec_json))
    return Throughput(measure_throughput(spec), f"{spec.name} timed just now on this machine")


def spec_key(spec: ArchitectureSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)


def renders_note(config: TrainConfig) -> None:
    """When the run adds photo renders this machine has not made yet: how many, and roughly how long."""
    from fmnist_core.photo_renders import SECONDS_PER_RENDER, render_threads

    count = photo_render_count(config.to_dict())
    if not count:
        return
    try:
        missing = max(0, count - photo_renders_made())
    except FmnistError:  # no dataset: the page says so elsewhere
        return
    if not missing:
        st.caption(f":material/photo_camera: Its {count:,} photo renders are ready on this machine.")
        return
    low, high = (missing * seconds / render_threads() for seconds in SECONDS_PER_RENDER)
    st.caption(
        f":material/photo_camera: First, {missing:,} of its {count:,} photo renders are made (about "
        f"{format_duration(low)} to {format_duration(high)} here, before the training time); they are kept for "
        "later runs."
    )


def run_time_estimate(config: TrainConfig, spec: ArchitectureSpec, *, key: str = "tr_estimate") -> None:
    """A caption with the run's expected time (and its range and basis), or a button to measure it; before it,
    a note on the photo renders still to make, if any."""
    renders_note(config)
    macs = layer_table(spec).multiply_adds
    ids = tuple(run.run_id for run in run_store().list_runs())
    measured = (st.session_state.get(MEASURED_KEY) or {}).get(spec_key(spec))
    estimate = estimate_from_runs(config.to_dict(), macs, runs_figures(ids), measured=measured)
    if estimate is None:
        if st.button("Estimate how long this run takes", icon=":material/timer:", key=key,
                     help="Times a few training steps of this network on this machine (about 10 seconds)."):
            rate = measured_throughput(spec_key(spec))
            st.session_state[MEASURED_KEY] = {**(st.session_state.get(MEASURED_KEY) or {}), spec_key(spec): rate}
            st.rerun()
        return
    st.caption(
        f":material/timer: About **{format_duration(estimate.seconds)}** on this machine "
        f"(likely {format_duration(estimate.low_seconds)} to {format_duration(estimate.high_seconds)}): "
        f"{estimate.epochs} epoch{'s' * (estimate.epochs != 1)} of {estimate.images_per_epoch:,} images, each "
        f"validated (speed {estimate.basis}). Jobs queued before it add their own time."
    )

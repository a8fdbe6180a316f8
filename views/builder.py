"""Build a network: start from a preset, a saved network or a run, add, remove, reorder and edit layers,
see every layer's shape and cost live, save or download it, and train it on the Training page."""

from __future__ import annotations

import streamlit as st

from fmnist_core.archspec import LAYER_TYPES, MAX_LAYERS, MAX_SPEC_BYTES, ArchitectureSpec, format_shape, layer_table
from fmnist_core.archspec_speed import epoch_seconds, throughput_from_runs
from fmnist_core.archspec_store import run_architecture_spec
from fmnist_core.constants import TRAIN_SIZE, VALIDATION_SIZE
from fmnist_core.errors import FmnistError
from fmnist_core.models import ARCHITECTURES, EXPERIMENTS
from ui import builder_state as bs
from ui.architecture_choice import architecture_choices, hand_over, library
from ui.layout import format_count, format_duration, friendly_error, guarded, page_header, show_error
from ui.navigation import PAGE_PATHS
from ui.state import run_store
from ui.time_estimate import measured_throughput, runs_figures, spec_key

page_header(
    "builder",
    "Compose a CNN layer by layer. The table shows what each layer does to the image's shape and what it "
    "costs, as you edit; the input (28x28x1) and the 10-way softmax output are added for you.",
)

state = st.session_state
START_KEY = "bd_start_from"
ERROR_KEY = "bd_load_error"
UPLOAD_KEY = "bd_upload"
THROUGHPUT_KEY = "bd_throughput"
EPOCH_IMAGES = TRAIN_SIZE - VALIDATION_SIZE  # an epoch of the default hold-out setting


# ---------------------------------------------------------------- callbacks (run before the page redraws)
def _load_choice() -> None:
    source = state.get(START_KEY) or "arch:seed_cnn"
    kind, _, name = source.partition(":")
    try:
        if kind == "run":
            bs.load_spec(state, run_architecture_spec(run_store().get(name).meta), f"run {name}")
        else:
            bs.load_spec(state, architecture_choices(state)[name].spec, name)
        state.pop(ERROR_KEY, None)
    except (FmnistError, KeyError) as exc:
        state[ERROR_KEY] = friendly_error(exc) if isinstance(exc, FmnistError) else f"Unknown choice {name!r}."


def _load_experiment(name: str) -> None:
    bs.load_spec(state, EXPERIMENTS[name].spec, f"the experiment '{EXPERIMENTS[name].title}'")
    state.pop(ERROR_KEY, None)


def _load_upload() -> None:
    uploaded = state.get(UPLOAD_KEY)
    if uploaded is None:
        return
    problem = bs.load_upload(state, uploaded.name, uploaded.size, uploaded.getvalue)
    if problem:
        state[ERROR_KEY] = problem
    else:
        state.pop(ERROR_KEY, None)


def _save(spec) -> None:
    try:
        library().save(spec)
    except FmnistError as exc:
        state[ERROR_KEY] = friendly_error(exc)
    else:
        state.pop(ERROR_KEY, None)
        state["flash"] = (f"Saved **{spec.name}**: it is now in the architecture list here and on the Training "
                          "page.")


if bs.LAYERS_KEY not in state:
    bs.load_spec(state, ARCHITECTURES["seed_cnn"].spec, "seed_cnn")

# ---------------------------------------------------------------- start from
with guarded():
    st.subheader("Start from", anchor=False)
    choices = architecture_choices(state)
    runs = [run for run in run_store().list_runs() if run.config]
    runs_by_id = {run.run_id: run for run in runs}
    options = [f"arch:{name}" for name in choices] + [f"run:{run.run_id}" for run in runs]

    def _option_label(option: str) -> str:
        kind, _, name = option.partition(":")
        if kind == "run":
            size = (runs_by_id[name].meta.get("model") or {}).get("parameters")
            return f"Run {name}" + (f" · {size:,} parameters" if size else "")
        choice = choices.get(name)
        return f"{choice.title} ({name})" if choice and choice.builtin else f"{name} (saved)"

    if state.get(START_KEY) not in options:
        state[START_KEY] = options[0]
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox("A built-in network, one you saved, or the network of a saved run", options, key=START_KEY,
                 format_func=_option_label)
    c2.button("Load", icon=":material/download:", on_click=_load_choice, key="bd_load", width="stretch",
              help="Replaces the layers below.")
    st.caption("Or try a guided experiment: one change to the seed report's network, and what to watch when you "
               "train it.")
    for column, (name, experiment) in zip(st.columns(len(EXPERIMENTS)), EXPERIMENTS.items(), strict=True):
        with column.container(border=True):
            st.markdown(f"**{experiment.title}**")
            st.caption(experiment.watch)
            st.button("Start from this", key=f"bd_exp_{name}", on_click=_load_experiment, args=(name,))
    if state.get(ERROR_KEY):
        st.error(state[ERROR_KEY], icon=":material/error:")
    st.caption(f"Now editing: started from {state.get(bs.SOURCE_KEY, 'seed_cnn')}.")

# ---------------------------------------------------------------- layers
spec = None
with guarded():
    st.subheader("Layers", anchor=False)
    try:
        layers = bs.layers_from_state(state)
    except FmnistError as exc:
        show_error(exc)
        layers = None
    table = layer_table(ArchitectureSpec("draft", layers)) if layers is not None else None
    items = bs.layers(state)
    for index, layer in enumerate(items):
        kind = layer["type"]
        settings = bs.setting_names(LAYER_TYPES[kind])
        with st.container(border=True, key=f"bd_layer_{layer['id']}"):
            columns = st.columns([2.2, *([1.2] * max(len(settings), 1)), 0.45, 0.45, 0.45],
                                 vertical_alignment="bottom")
            row = table.rows[index + 1] if table is not None and index + 1 < len(table.rows) else None
            detail = "→ ?" if row is None else f"→ {format_shape(row.output_shape)}" + (
                f"  \n{format_count(row.parameters)} params · {format_count(row.multiply_adds)} mult-adds"
                if row.parameters else "")
            columns[0].markdown(f"**{index + 1}. {LAYER_TYPES[kind].title}**  \n:gray[{detail}]")
            for column, setting in zip(columns[1:], settings, strict=False):
                widget = bs.SETTING_WIDGETS[(kind, setting)]
                key = bs.widget_key(layer["id"], setting)
                if widget.kind == "int":
                    column.number_input(widget.label, int(widget.low), int(widget.high), step=int(widget.step),
                                        key=key, help=widget.help)
                elif widget.kind == "float":
                    column.number_input(widget.label, float(widget.low), float(widget.high), step=float(widget.step),
                                        format="%.3f", key=key, help=widget.help)
                elif widget.kind == "choice":
                    column.selectbox(widget.label, widget.options, key=key, help=widget.help)
                else:
                    column.checkbox(widget.label, key=key, help=widget.help)
            base = 1 + max(len(settings), 1)
            columns[base].button("", icon=":material/arrow_upward:", key=f"bd_up_{layer['id']}", help="Move up",
                                 on_click=bs.move_layer, args=(state, layer["id"], -1), disabled=index == 0)
            columns[base + 1].button("", icon=":material/arrow_downward:", key=f"bd_down_{layer['id']}",
                                     help="Move down", on_click=bs.move_layer, args=(state, layer["id"], 1),
                                     disabled=index == len(items) - 1)
            columns[base + 2].button("", icon=":material/delete:", key=f"bd_remove_{layer['id']}", help="Remove",
                                     on_click=bs.remove_layer, args=(state, layer["id"]))
            if table is not None and table.problem_index == index:
                st.error(table.problem, icon=":material/block:")
    if not items:
        st.info("No layers yet: the image would go straight to the output. Add a layer below.",
                icon=":material/info:")
    if table is not None and table.problem_index is not None and table.problem_index >= len(items):
        st.error(table.problem, icon=":material/block:")
    a1, a2 = st.columns([4, 1], vertical_alignment="bottom")
    new_kind = a1.selectbox("Add a layer", list(LAYER_TYPES), key="bd_add_type",
                            format_func=lambda kind: LAYER_TYPES[kind].title)
    a2.button("Add", icon=":material/add:", key="bd_add", on_click=bs.add_layer, args=(state, new_kind),
              disabled=len(items) >= MAX_LAYERS, width="stretch",
              help=f"At the end; move it with the arrows. At most {MAX_LAYERS} layers.")

# ---------------------------------------------------------------- live table and cost
with guarded():
    st.subheader("Shapes and cost", anchor=False)
    if table is not None:
        rows = [{"#": "" if row.index is None else str(row.index + 1), "Layer": row.label,
                 "Output shape": format_shape(row.output_shape), "Parameters": row.parameters,
                 "Multiply-adds": row.multiply_adds} for row in table.rows]
        rows.append({"#": "", "Layer": "Total", "Output shape": "", "Parameters": table.parameters,
                     "Multiply-adds": table.multiply_adds})
        st.dataframe(rows, hide_index=True, width="stretch", key="bd_table", height=35 * (len(rows) + 1) + 3,
                     column_config={"Parameters": st.column_config.NumberColumn(format="localized"),
                                    "Multiply-adds": st.column_config.NumberColumn(format="localized")})
        if table.problem:
            st.error(f"**This network cannot be built yet.** {table.problem}", icon=":material/block:")
        m1, m2, m3 = st.columns(3)
        m1.metric("Parameters", f"{table.parameters:,}")
        m2.metric("Multiply-adds / image", format_count(table.multiply_adds))
        ids = tuple(run.run_id for run in run_store().list_runs())
        throughput = throughput_from_runs(runs_figures(ids)) or state.get(THROUGHPUT_KEY)
        if throughput is not None:
            m3.metric("Rough time per epoch", format_duration(epoch_seconds(table.multiply_adds, EPOCH_IMAGES,
                                                                            throughput)))
            st.caption(f"Per epoch of {EPOCH_IMAGES:,} images at {throughput.macs_per_second / 1e9:.1f} billion "
                       f"training multiply-adds a second ({throughput.source}); small layers run slower than "
                       "their multiply-adds suggest, so read it as within a factor of two.")
        elif m3.button("Estimate the time per epoch", icon=":material/timer:", key="bd_measure",
                       help="Times a few training steps on this machine once (about 10 seconds)."):
            state[THROUGHPUT_KEY] = measured_throughput(spec_key(ARCHITECTURES["fast_cnn"].spec))
            st.rerun()

# ---------------------------------------------------------------- save, share, train
with guarded():
    st.subheader("Save, share and train", anchor=False)
    n1, n2 = st.columns(2)
    n1.text_input("Name", key=bs.NAME_KEY, max_chars=40, help="Letters, digits, '-' and '_': it names files and runs.")
    n2.text_input("Title (optional)", key=bs.TITLE_KEY, max_chars=80)
    try:
        spec = bs.spec_from_state(state)
    except FmnistError as exc:
        show_error(exc)
        spec = None
    ready = spec is not None and table is not None and table.ok
    b1, b2, b3 = st.columns(3)
    b1.button("Save architecture", icon=":material/save:", key="bd_save", disabled=not ready,
              on_click=_save, args=(spec,), width="stretch",
              help="Saved beside the runs; it appears in the architecture lists.")
    b2.download_button("Download JSON", data=spec.to_json() if spec else "",
                       file_name=f"{spec.name if spec else 'architecture'}.json",
                       mime="application/json", icon=":material/file_download:", key="bd_download",
                       disabled=spec is None, width="stretch")
    if b3.button("Train this network", type="primary", icon=":material/play_arrow:", key="bd_train",
                 disabled=not ready, width="stretch",
                 help="Opens the Training page with this network selected; choose the recipe there."):
        hand_over(state, spec)
        st.switch_page(PAGE_PATHS["training"])
    if not ready and spec is not None:
        st.caption("Fix the problem shown above to save or train this network.")
    st.file_uploader(f"Upload a specification (.json, at most {MAX_SPEC_BYTES // 1024} kB)", type=["json"],
                     key=UPLOAD_KEY, on_change=_load_upload,
                     help="It replaces the layers above; files are checked like any input.")

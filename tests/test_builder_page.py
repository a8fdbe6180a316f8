"""The Build a network page through AppTest: add, edit, reorder and remove layers with the table and
totals following; impossible networks explained at their layer; experiments, runs and saved networks
as starting points; save, and hand the network to the Training page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from fmnist_core.archspec import ArchitectureSpec, Conv, GlobalAvgPool, layer_table
from fmnist_core.archspec_store import ArchitectureLibrary
from fmnist_core.models import ARCHITECTURES, EXPERIMENTS
from ui.navigation import VIEWS_DIR

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120
SEED = layer_table(ARCHITECTURES["seed_cnn"].spec)


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return tmp_path


@pytest.fixture()
def at(runs_dir) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.switch_page(f"{VIEWS_DIR}/builder.py").run()
    assert not app.exception, app.exception
    return app


def table(app: AppTest):
    frame = app.dataframe[0].value
    return frame.to_dict("records")


def total(app: AppTest) -> tuple[int, int]:
    last = table(app)[-1]
    assert last["Layer"] == "Total"
    return int(last["Parameters"]), int(last["Multiply-adds"])


def layer_ids(app: AppTest) -> list[int]:
    return [layer["id"] for layer in app.session_state["bd_layers"]]


def click(app: AppTest, key: str) -> None:
    app.button(key=key).click().run()
    assert not app.exception, app.exception


def errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def test_starts_from_the_seed_network_with_its_table_and_totals(at):
    rows = table(at)
    assert [r["Output shape"] for r in rows[:3]] == ["28 x 28 x 1", "26 x 26 x 32", "13 x 13 x 32"]
    assert total(at) == (SEED.parameters, SEED.multiply_adds) == (225_034, 2_631_040)
    assert {m.label: m.value for m in at.metric}["Parameters"] == "225,034"
    assert at.text_input(key="bd_name").value == "my_seed_cnn"
    assert not errors(at)


def test_add_edit_move_and_remove_a_layer_update_the_table(at):
    # add a dense 128 at the end (after the last dropout): +128*128+128, and the output sees 128 inputs again
    at.selectbox(key="bd_add_type").set_value("dense").run()
    click(at, "bd_add")
    new = layer_ids(at)[-1]
    assert len(table(at)) == 1 + 10 + 1 + 1
    assert total(at)[0] == SEED.parameters + 128 * 128 + 128
    # edit: the first convolution gets 16 filters instead of 32
    first = layer_ids(at)[0]
    at.number_input(key=f"bd_{first}_filters").set_value(16).run()
    params, macs = total(at)
    assert table(at)[1]["Output shape"] == "26 x 26 x 16"
    assert macs == SEED.multiply_adds - 26 * 26 * 16 * 9 - 11 * 11 * 64 * 9 * 16 + 128 * 128
    # move the new dense up one place (before the dropout): same totals, new order
    click(at, f"bd_up_{new}")
    assert layer_ids(at)[-2] == new and total(at) == (params, macs)
    # remove it: back to the seed network with 16 filters
    click(at, f"bd_remove_{new}")
    assert new not in layer_ids(at) and len(table(at)) == 1 + 9 + 1 + 1
    assert total(at)[0] == params - (128 * 128 + 128)


def test_impossible_networks_are_explained_at_their_layer_and_cannot_be_trained(at):
    ids = layer_ids(at)
    flatten = ids[6]
    click(at, f"bd_remove_{flatten}")  # the dense layer now meets a 5x5x64 map
    messages = " ".join(errors(at))
    assert "Layer 7 (dense)" in messages and "put a flatten or global average pooling layer before it" in messages
    assert at.button(key="bd_train").disabled and at.button(key="bd_save").disabled
    assert not at.exception
    # pooling that would shrink a 1x1 map: five 2x2 poolings on top of the seed's convolutions
    at.selectbox(key="bd_start_from").set_value("arch:fast_cnn").run()
    click(at, "bd_load")
    for _ in range(5):
        at.selectbox(key="bd_add_type").set_value("max_pool").run()
        click(at, "bd_add")
    # fast_cnn ends on global average pooling: pooling after it has no map at all
    assert any("needs a 2-D feature map" in m for m in errors(at))
    gap = next(layer["id"] for layer in at.session_state["bd_layers"] if layer["type"] == "global_avg_pool")
    click(at, f"bd_remove_{gap}")
    assert any("cannot shrink a 1x1 map" in m for m in errors(at))


def test_guided_experiments_load_ordinary_specs(at):
    click(at, "bd_exp_seed_no_pooling")
    expected = layer_table(EXPERIMENTS["seed_no_pooling"].spec)
    assert total(at) == (expected.parameters, expected.multiply_adds)
    assert at.text_input(key="bd_name").value == "seed_no_pooling"
    assert any(EXPERIMENTS["seed_no_pooling"].watch == c.value for c in at.caption)


def test_save_then_train_hands_the_network_to_the_training_page(at, runs_dir):
    at.text_input(key="bd_name").set_value("tiny_net").run()
    first = layer_ids(at)[0]
    at.number_input(key=f"bd_{first}_filters").set_value(8).run()
    click(at, "bd_save")
    saved = ArchitectureLibrary(runs_dir).load("tiny_net")
    assert saved.layers[0].filters == 8 and layer_table(saved).parameters == total(at)[0]
    assert "tiny_net (saved)" in at.selectbox(key="bd_start_from").options
    # a built-in name is refused with a message, not a traceback
    at.text_input(key="bd_name").set_value("seed_cnn").run()
    click(at, "bd_save")
    assert any("built-in" in m for m in errors(at))
    at.text_input(key="bd_name").set_value("tiny_net").run()
    click(at, "bd_train")
    assert at.selectbox(key="tr_architecture").value == "tiny_net"
    assert any("tiny_net" in i.value for i in at.info)
    from ui.training_form import config_from_state

    config = config_from_state(at.session_state)
    assert config.architecture == "tiny_net" and config.architecture_spec == saved


def test_start_from_a_saved_run_and_a_saved_network(at, runs_dir):
    spec = ArchitectureSpec("run_net", (Conv(4), Conv(6), GlobalAvgPool()))
    run = runs_dir / "20260101-000000-run_net-abcd"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "completed", "config": {"architecture": "run_net"},
                                              "architecture_spec": spec.to_dict()}))
    ArchitectureLibrary(runs_dir).save(ArchitectureSpec("saved_net", (Conv(2), GlobalAvgPool())))
    at.run()
    options = at.selectbox(key="bd_start_from").options
    assert any("saved_net" in o for o in options) and any(run.name in o for o in options)
    at.selectbox(key="bd_start_from").set_value(f"run:{run.name}").run()
    click(at, "bd_load")
    assert total(at)[0] == layer_table(spec).parameters and at.text_input(key="bd_name").value == "run_net"
    at.selectbox(key="bd_start_from").set_value("arch:saved_net").run()
    click(at, "bd_load")
    assert [layer["type"] for layer in at.session_state["bd_layers"]] == ["conv", "global_avg_pool"]


def test_the_builder_page_does_not_import_tensorflow(runs_dir):
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT})
        at.run()
        at.switch_page("{VIEWS_DIR}/builder.py").run()
        print(json.dumps({{"exception": [e.value for e in at.exception], "rows": len(at.dataframe[0].value),
                          "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"exception": [], "rows": 12, "tensorflow": False, "keras": False}


def test_uploads_are_checked_before_they_change_anything():
    """The uploader's callback (ui.builder_state.load_upload): a huge file is refused before it is read,
    a hostile or impossible one with its reason, a good one replaces the network."""
    from ui import builder_state as bs

    state: dict = {}
    bs.load_spec(state, ARCHITECTURES["seed_cnn"].spec, "seed_cnn")
    before = dict(state)

    def never_read() -> bytes:
        raise AssertionError("a file over the size limit must not be read")

    assert "10,485,760 bytes" in bs.load_upload(state, "huge.json", 10 * 1024 * 1024, never_read)
    for data, words in ((b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
                        (b'{"name": "x", "layers": [{"type": "lambda"}]}', "unknown type 'lambda'"),
                        (b'{"name": "x", "layers": [{"type": "dense"}]}', "Layer 1 (dense)"),
                        (b'{"name": "x", "layers": [{"type": "conv", "filters": 99999999}]}', "filters must be")):
        message = bs.load_upload(state, "bad.json", len(data), lambda data=data: data)
        assert message.startswith("**This file was not loaded.**") and words in message
    assert state == before
    good = ArchitectureSpec("uploaded_net", (Conv(4), GlobalAvgPool()))
    assert bs.load_upload(state, "good.json", 100, lambda: good.to_json().encode()) is None
    assert bs.spec_from_state(state) == good and state[bs.SOURCE_KEY] == "the file good.json"

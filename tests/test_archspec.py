"""fmnist_core.archspec (+ archspec_build, archspec_store): specifications validate, infer shapes and cost
exactly as Keras counts them, build only standard layers that save and load in safe mode, and refuse
impossible networks and hostile files with a typed error naming the layer."""

from __future__ import annotations

import json
import time
import tracemalloc

import numpy as np
import pytest
from conftest import report_optimiser_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmnist_core.archspec import (
    MAX_LAYERS,
    MAX_SPEC_BYTES,
    Activation,
    ArchitectureSpec,
    AvgPool,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    MaxPool,
    layer_table,
    load_spec_file,
    spec_from_dict,
    spec_from_json,
    table_text,
    validate,
)
from fmnist_core.archspec_store import ArchitectureLibrary, resolve_architecture, run_architecture_spec
from fmnist_core.config import TrainConfig
from fmnist_core.errors import ArchitectureSpecError, ConfigError, UnknownArchitectureError
from fmnist_core.models import ARCHITECTURES


def spec(*layers, name="test_net") -> ArchitectureSpec:
    return ArchitectureSpec(name, tuple(layers))


# ---------------------------------------------------------------- shapes and counts by hand
def test_table_rows_shapes_and_totals_by_hand():
    net = spec(Conv(8, 3, stride=2, padding="same"), BatchNorm(), AvgPool(2), Conv(4, 5, padding="valid"),
               GlobalAvgPool(), Dropout(0.1), Dense(16, "tanh"))
    table = validate(net)
    assert [row.output_shape for row in table.rows] == [
        (28, 28, 1), (14, 14, 8), (14, 14, 8), (7, 7, 8), (3, 3, 4), (4,), (4,), (16,), (10,)]
    assert [row.parameters for row in table.rows] == [0, 9 * 8 + 8, 32, 0, 25 * 8 * 4 + 4, 0, 0, 4 * 16 + 16, 170]
    assert [row.multiply_adds for row in table.rows] == [0, 14 * 14 * 8 * 9, 0, 0, 3 * 3 * 4 * 25 * 8, 0, 0, 64, 160]
    assert table.parameters == sum(r.parameters for r in table.rows)
    text = table_text(net)
    assert "Conv 8 3x3, stride 2, same, relu" in text and f"{table.parameters:>12,}" in text


@pytest.mark.parametrize(
    ("layers", "index", "words"),
    [
        ((MaxPool(2),) * 5, 4, "cannot shrink a 1x1 map"),
        ((Conv(8), Dense(10)), 1, "put a flatten or global average pooling layer before it"),
        ((Flatten(), Conv(8)), 1, "needs a 2-D feature map"),
        ((Flatten(), MaxPool(2)), 1, "needs a 2-D feature map"),
        ((GlobalAvgPool(), Flatten()), 1, "needs a 2-D feature map"),
        ((MaxPool(4), MaxPool(4), Conv(4, 5, padding="valid")), 2, "does not fit on a 1x1 map"),
        ((Conv(8),), 1, "ends on a 28x28x8 feature map"),
    ],
)
def test_impossible_networks_are_explained_at_the_layer_where_they_break(layers, index, words):
    net = spec(*layers)
    table = layer_table(net)  # never raises: the page shows the rows that work and the reason
    assert not table.ok and table.problem_index == index and words in table.problem
    assert len(table.rows) == 1 + index
    with pytest.raises(ArchitectureSpecError) as info:
        validate(net)
    assert info.value.layer_index == index and words in str(info.value)
    assert isinstance(info.value, ConfigError)
    if index < len(layers):
        assert f"layer {index + 1} ({layers[index].kind})" in str(info.value).lower()


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "conv", "filters": 0}, "filters must be between 1 and"),
        ({"type": "conv", "filters": 10**9}, "filters must be between 1 and"),
        ({"type": "conv", "filters": "32"}, "filters must be a whole number"),
        ({"type": "conv", "filters": True}, "filters must be a whole number"),
        ({"type": "conv", "filters": 3.5}, "filters must be a whole number"),
        ({"type": "conv", "kernel": {"a": [1]}}, "kernel must be a whole number, got a JSON object"),
        ({"type": "conv", "padding": "full"}, "padding must be one of valid, same"),
        ({"type": "conv", "activation": "os.system"}, "activation must be one of"),
        ({"type": "conv", "code": "print(1)"}, "unknown setting 'code'"),
        ({"type": "dense", "units": 10**6}, "units must be between 1 and"),
        ({"type": "dropout", "rate": 1.0}, "rate must be between 0 and 0.95"),
        ({"type": "dropout", "rate": float("nan")}, "rate must be a number"),
        ({"type": "batchnorm", "momentum": "high"}, "momentum must be a number"),
        ({"type": "lambda", "function": "x"}, "unknown type 'lambda'"),
        ({"filters": 3}, "unknown type None"),
        ("conv", "must be a JSON object"),
    ],
)
def test_bad_layers_raise_a_typed_error_naming_the_layer(layer, words):
    values = {"name": "x", "layers": [{"type": "flatten"}, layer]}
    with pytest.raises(ArchitectureSpecError) as info:
        spec_from_dict(values)
    assert words in str(info.value) and "layer 2" in str(info.value) and info.value.layer_index == 1


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([], "must be a JSON object"),
        ({"name": "x", "layers": {}}, "must be a list"),
        ({"name": "x", "layers": [{"type": "flatten"}] * (MAX_LAYERS + 1)}, "too many layers"),
        ({"name": "../etc/passwd", "layers": [{"type": "flatten"}]}, "is not allowed"),
        ({"name": "x", "layers": [{"type": "flatten"}], "version": 2}, "unsupported specification version"),
        ({"name": "x", "layers": [{"type": "flatten"}], "format": "keras"}, "not an architecture file"),
        ({"name": "x", "layers": [{"type": "flatten"}], "module": "os"}, "unknown key 'module'"),
        ({"name": "x", "layers": [{"type": "flatten"}], "title": "t" * 501}, "longer than 500"),
        ({"name": "x", "layers": [{"type": "flatten"}, {"type": "dense", "units": 8192},
                                  {"type": "dense", "units": 8192}]}, "parameters; at most"),
        ({"name": "x", "layers": [{"type": "conv", "filters": 1024}, {"type": "conv", "filters": 1024},
                                  {"type": "global_avg_pool"}]}, "multiply-adds per image; at most"),
    ],
)
def test_bad_specifications_are_refused(values, words):
    with pytest.raises(ArchitectureSpecError) as info:
        spec_from_dict(values)
    assert words in str(info.value)


def test_json_round_trip_and_defaults():
    net = spec_from_json('{"name": "tiny", "layers": [{"type": "conv"}, {"type": "max_pool"}, {"type": "flatten"}]}')
    assert net.layers == (Conv(), MaxPool(), Flatten())
    assert net.layers[0].to_dict() == {"type": "conv", "filters": 32, "kernel": 3, "stride": 1, "padding": "same",
                                       "activation": "relu", "bias": True}
    again = spec_from_json(net.to_json())
    assert again == net and json.loads(net.to_json())["version"] == 1


# ---------------------------------------------------------------- hostile files
def test_a_10_mb_file_is_refused_quickly_without_reading_it(tmp_path):
    path = tmp_path / "huge.json"
    filler = json.dumps({"type": "conv", "filters": 32}) + ","
    path.write_text('{"name": "x", "layers": [' + filler * (10_000_000 // len(filler)) + '{"type": "flatten"}]}')
    assert path.stat().st_size > 9_000_000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ArchitectureSpecError, match="larger than"):
        load_spec_file(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 0.5 and peak < 4 * MAX_SPEC_BYTES
    with pytest.raises(ArchitectureSpecError, match="too large"):
        spec_from_json(path.read_bytes())  # the same bytes from an upload


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 60_000 + "]" * 60_000, "too large"),  # 120 kB of nesting: refused by size
        ('{"name": "x", "layers": ' + "[" * 30_000 + "]" * 30_000 + "}", "nested too deeply"),
        ('{"name": "x", "layers": [{"type": "conv", "filters": 1' + "0" * 5000 + '}]}', "not valid JSON"),
        ("\x00\xff garbage", "not valid JSON"),
        ('{"name": "x", "layers": [{"type": "conv", "filters": 1e400}]}', "whole number"),
    ],
)
def test_hostile_json_is_refused_with_a_clear_message(text, words):
    started = time.perf_counter()
    with pytest.raises(ArchitectureSpecError, match=words):
        spec_from_json(text)
    assert time.perf_counter() - started < 1.0


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(ArchitectureSpecError, match="cannot read"):
        load_spec_file(tmp_path / "nope.json")


# ---------------------------------------------------------------- saved architectures and runs
def test_library_saves_lists_loads_and_refuses_builtin_names(tmp_path):
    library = ArchitectureLibrary(tmp_path)
    assert library.names() == [] and set(library.choices()) == set(ARCHITECTURES)
    net = spec(Conv(4), GlobalAvgPool(), name="my_net")
    path = library.save(net)
    assert path == tmp_path / "architectures" / "my_net.json"
    assert library.names() == ["my_net"] and library.load("my_net") == net
    choices = library.choices()
    assert list(choices)[-1] == "my_net" and not choices["my_net"].builtin and choices["seed_cnn"].builtin
    assert choices["my_net"].parameters == layer_table(net).parameters
    assert resolve_architecture("my_net", library) == net
    assert resolve_architecture(str(path), library) == net
    assert resolve_architecture("seed_cnn", library) == ARCHITECTURES["seed_cnn"].spec
    with pytest.raises(ArchitectureSpecError, match="built-in"):
        library.save(net.renamed("seed_cnn"))
    with pytest.raises(UnknownArchitectureError, match="my_net"):
        resolve_architecture("nothing_here", library)
    (library.folder / "broken.json").write_text("{")
    assert "broken" not in library.choices()  # a damaged file never breaks the list


def test_train_config_carries_a_custom_spec_through_json():
    net = spec(Conv(4), MaxPool(), Flatten(), Dense(8), name="cfg_net")
    config = TrainConfig(architecture="cfg_net", architecture_spec=net)
    assert config.resolved_architecture_spec() == net
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert TrainConfig().resolved_architecture_spec() == ARCHITECTURES["slim_cnn"].spec
    with pytest.raises(ConfigError, match="does not match"):
        TrainConfig(architecture="fast_cnn", architecture_spec=net)
    with pytest.raises(ArchitectureSpecError, match="Layer 1 \\(dense\\)"):
        TrainConfig(architecture="bad", architecture_spec=spec(Dense(4), name="bad"))


def test_a_run_trained_from_a_spec_stores_it_and_loads_in_safe_mode(synthetic_dataset, tmp_store):
    from fmnist_core.archspec_build import build_model_from_spec, multiply_adds
    from fmnist_core.training import train

    net = spec(Conv(4, 3), BatchNorm(), Activation("relu"), MaxPool(2), Conv(8, 3, padding="valid"),
               GlobalAvgPool(), Dropout(0.1), name="spec_run")
    config = report_optimiser_config(epochs=1, batch_size=100, validation="test", seed=1,
                                     architecture="spec_run", architecture_spec=net)
    result = train(config, dataset=synthetic_dataset, store=tmp_store, command="pytest")
    assert result.status == "completed"
    run = tmp_store.get(result.run.run_id)
    assert run_architecture_spec(run.meta) == net and run.architecture == "spec_run"
    assert TrainConfig.from_dict(run.config) == config  # resumable: the config rebuilds the spec
    table = layer_table(net)
    assert run.meta["model"] == {"parameters": table.parameters, "multiply_adds": table.multiply_adds}
    model = tmp_store.load_model(run.run_id)  # safe_mode=True inside
    assert model.count_params() == table.parameters and multiply_adds(model) == table.multiply_adds
    rebuilt = build_model_from_spec(run_architecture_spec(run.meta))
    rebuilt.set_weights(model.get_weights())
    x = synthetic_dataset.x_test[:8, ..., None].astype(np.float32) / 255
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-5)


def test_older_runs_without_a_stored_spec_use_the_registry():
    meta = {"config": {"architecture": "seed_cnn"}}
    assert run_architecture_spec(meta) == ARCHITECTURES["seed_cnn"].spec
    with pytest.raises(UnknownArchitectureError):
        run_architecture_spec({"config": {"architecture": "gone"}})


# ---------------------------------------------------------------- random valid specifications
ACT = st.sampled_from(["relu", "linear", "tanh", "gelu"])
MAP_LAYER = st.one_of(
    st.builds(Conv, filters=st.integers(1, 6), kernel=st.integers(1, 4), stride=st.integers(1, 2),
              padding=st.sampled_from(["same", "valid"]), activation=ACT, bias=st.booleans()),
    st.builds(BatchNorm, momentum=st.sampled_from([0.9, 0.99])),
    st.builds(Activation, function=ACT),
    st.builds(MaxPool, size=st.integers(1, 3), padding=st.sampled_from(["same", "valid"])),
    st.builds(AvgPool, size=st.integers(1, 3), stride=st.integers(0, 2)),
    st.builds(Dropout, rate=st.sampled_from([0.0, 0.3])),
)
VECTOR_LAYER = st.one_of(st.builds(Dense, units=st.integers(1, 12), activation=ACT),
                         st.builds(Dropout, rate=st.sampled_from([0.0, 0.5])))


@st.composite
def valid_specs(draw):
    head = draw(st.lists(MAP_LAYER, max_size=5))
    squash = draw(st.sampled_from([Flatten(), GlobalAvgPool()]))
    tail = draw(st.lists(VECTOR_LAYER, max_size=2))
    net = spec(*head, squash, *tail, name="hypo")
    table = layer_table(net)
    from hypothesis import assume

    assume(table.ok and table.parameters < 200_000)
    return net


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(net=valid_specs())
def test_random_valid_specs_build_train_save_and_load_in_safe_mode(net, tmp_path_factory):
    import keras

    from fmnist_core.archspec_build import build_model_from_spec, multiply_adds
    from fmnist_core.runs import atomic_save_model, load_verified_model

    table = validate(net)
    model = build_model_from_spec(net)
    assert model.count_params() == table.parameters and multiply_adds(model) == table.multiply_adds
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[1:-2]]
    assert shapes == [row.output_shape for row in table.rows[1:-1]]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    loss = model.train_on_batch(x, np.eye(10, dtype=np.float32)[[0, 1, 2, 3]])
    assert np.isfinite(loss)
    path = tmp_path_factory.mktemp("hypo") / "model.keras"
    checksum = atomic_save_model(model, path)
    loaded = load_verified_model(path, checksum, label="hypothesis")  # safe_mode=True
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-5)


# ---------------------------------------------------------------- the rough epoch time
def test_throughput_from_runs_on_this_host_and_epoch_time():
    from fmnist_core.archspec_speed import Throughput, epoch_seconds, throughput_from_runs, training_images

    assert training_images({"validation": "holdout"}) == 55_000
    assert training_images({"validation": "test", "train_limit": 2000}) == 2000
    # Photo renders of a share of the training images join them (the default recipe: a fifth).
    assert training_images({"validation": "holdout", "photo_renders": 0.2}) == 66_000
    assert training_images({"validation": "holdout", "train_limit": 2000, "photo_renders": 0.2}) == 2400
    meta = {"host": "here", "model": {"multiply_adds": 1_000_000}, "config": {"validation": "holdout",
                                                                            "train_limit": 10_000}}
    runs = [(meta, {"train_seconds": [2.0, 1.0, 1.0]}),  # median 1 s: 3 * 1e6 * 1e4 / 1 = 3e10 per second
            ({**meta, "host": "elsewhere"}, {"train_seconds": [0.001]}),  # another machine: ignored
            ({"host": "here"}, {"train_seconds": [1.0]})]  # no size recorded: ignored
    found = throughput_from_runs(runs, host="here")
    assert found.macs_per_second == pytest.approx(3e10) and "1 run on this machine" in found.source
    assert throughput_from_runs(runs[1:], host="here") is None
    # A run that recorded other TensorFlow kernels does not count (oneDNN trains 1.6x faster on AVX2);
    # one that recorded these does, as do runs from before the kernels were recorded.
    slow = ({**meta, "versions": {"tensorflow_cpu_kernels": "TensorFlow's default"}}, {"train_seconds": [10.0]})
    same = ({**meta, "versions": {"tensorflow_cpu_kernels": "oneDNN on"}}, {"train_seconds": [1.0]})
    found = throughput_from_runs([slow, same, runs[0]], host="here", kernels="oneDNN on")
    assert found.macs_per_second == pytest.approx(3e10) and "2 runs" in found.source
    assert throughput_from_runs([slow], host="here", kernels="oneDNN on") is None
    assert epoch_seconds(2_000_000, 10_000, Throughput(3e10, "x")) == pytest.approx(2.0)


def test_run_estimate_prefers_the_same_network_and_counts_every_epoch_and_validation():
    from fmnist_core.archspec_speed import START_UP_SECONDS, Throughput, estimate_from_runs

    def run(arch: str, seconds: float):
        config = {"architecture": arch, "validation": "holdout", "train_limit": 10_000}
        return {"host": "here", "model": {"multiply_adds": 1_000_000}, "config": config}, {"train_seconds": [seconds]}

    runs = [run("small", 1.0), run("other", 10.0)]  # 3e10 and 3e9 training multiply-adds a second
    config = {"architecture": "small", "epochs": 4, "validation": "holdout", "train_limit": 20_000}
    est = estimate_from_runs(config, 2_000_000, runs, host="here")
    # Per epoch: training 3 * 2e6 * 2e4 / 3e10 = 4 s, validation 2e6 * 5,000 / 3e10 = 1/3 s.
    assert est.seconds == pytest.approx(START_UP_SECONDS + 4 * (4 + 1 / 3))
    assert est.low_seconds < est.seconds < est.high_seconds and "of small" in est.basis
    assert (est.epochs, est.images_per_epoch) == (4, 20_000)
    # No run of this network here: the median of all runs here, with the wider range.
    other = estimate_from_runs({**config, "architecture": "new"}, 2_000_000, runs, host="here")
    assert other.high_seconds / other.seconds > est.high_seconds / est.seconds
    # Nothing trained here: the measured figure, or nothing at all (the page then offers to measure).
    assert estimate_from_runs(config, 2_000_000, [], host="here") is None
    measured = estimate_from_runs(config, 2_000_000, [], host="here", measured=Throughput(3e10, "timed now"))
    assert measured.seconds == pytest.approx(est.seconds) and measured.basis == "timed now"
    # Validating on the test set predicts 10,000 images each epoch instead of 5,000.
    on_test = estimate_from_runs({**config, "validation": "test"}, 2_000_000, runs, host="here")
    assert on_test.seconds == pytest.approx(est.seconds + 4 * 1 / 3)


def test_measured_throughput_is_positive_and_finite():
    from fmnist_core.archspec_build import measure_throughput

    rate = measure_throughput(spec(Conv(4), GlobalAvgPool()), batch_size=16, steps=2)
    assert np.isfinite(rate) and rate > 1e6  # any CPU does more than a million multiply-adds a second


ANY_LAYER = st.one_of(MAP_LAYER, VECTOR_LAYER, st.just(Flatten()), st.just(GlobalAvgPool()),
                      st.builds(MaxPool, size=st.integers(2, 8)), st.builds(Conv, kernel=st.integers(5, 11),
                                                                           padding=st.just("valid")))


@settings(max_examples=300, deadline=None)
@given(layers=st.lists(ANY_LAYER, max_size=12))
def test_random_specs_either_validate_or_name_the_layer_that_breaks(layers):
    """No TensorFlow: any list of layers gives a table whose rows stop where the network breaks, and
    validate() raises a typed error naming exactly that layer (or the missing vector at the end)."""
    net = spec(*layers)
    table = layer_table(net)
    if table.ok:
        assert validate(net) == table
        assert table.rows[-1].output_shape == (10,)
        return
    with pytest.raises(ArchitectureSpecError) as info:
        validate(net)
    index = info.value.layer_index
    assert index == table.problem_index and str(info.value) == table.problem
    if index is None:  # over the size limits: every layer fits
        assert "at most" in table.problem
    elif index < len(layers):
        assert table.problem.startswith(f"Layer {index + 1} ({layers[index].kind}): ")
        assert len(table.rows) == index + 1  # the input and every layer before the broken one
    else:
        assert "ends on a" in table.problem and len(table.rows) == len(layers) + 1

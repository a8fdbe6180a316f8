"""fmnist_core.data: reading the IDX files, typed errors for missing/corrupt data, normalisation
and the stratified validation split."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from fmnist_core.constants import DATA_DIR_ENV, DATA_FILES, NUM_CLASSES, OFFICIAL_MD5, VALIDATION_SIZE
from fmnist_core.data import load_dataset, normalize, stratified_split
from fmnist_core.errors import CorruptDataError, DataError, DataNotFoundError


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def write_fake_folder(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """The four .gz files in the official layout, with a few random images."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    payloads = {
        "train_images": _idx_images(rng.integers(0, 256, (n_train, 28, 28))),
        "train_labels": _idx_labels(np.arange(n_train) % NUM_CLASSES),
        "test_images": _idx_images(rng.integers(0, 256, (n_test, 28, 28))),
        "test_labels": _idx_labels(np.arange(n_test) % NUM_CLASSES),
    }
    for key, name in DATA_FILES.items():
        (folder / name).write_bytes(gzip.compress(payloads[key]))
    return folder


# ------------------------------------------------------------------ the shared real copy
def test_real_copy_shapes_dtypes_and_labels(real_dataset):
    ds = real_dataset
    assert ds.x_train.shape == (60_000, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10_000, 28, 28) and ds.x_test.dtype == np.uint8
    assert ds.y_train.shape == (60_000,) and ds.y_train.dtype == np.int64
    assert ds.y_test.shape == (10_000,) and ds.y_test.dtype == np.int64
    for labels, per_class in ((ds.y_train, 6000), (ds.y_test, 1000)):
        assert labels.min() == 0 and labels.max() == NUM_CLASSES - 1
        assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [per_class] * NUM_CLASSES
    # Real garments, not blank or noise: pixels span the whole range, mostly dark background.
    assert ds.x_train.max() == 255 and 50 < ds.x_train.mean() < 100


def test_real_copy_is_reported_as_non_official_with_official_labels(real_dataset, real_data_folder):
    source = real_dataset.source
    # The shared copy reorders the images (see its README), so it must not claim to be official...
    assert source.official is False
    assert "non-official" in source.description and str(real_data_folder) in source.description
    # ...while its label files are byte-identical to Zalando's.
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert source.md5[name] == OFFICIAL_MD5[name]
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        assert source.md5[name] != OFFICIAL_MD5[name]
    assert sorted(source.official_files) == ["t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert "2 of 4 files match" in source.description


def test_load_dataset_without_argument_reads_the_env_folder(real_dataset):
    # conftest points FMNIST_DATA_DIR at the shared copy; the cached read is the same object.
    assert load_dataset() is real_dataset


# ------------------------------------------------------------------ FMNIST_DATA_DIR and errors
def test_env_variable_is_honoured(tmp_path, monkeypatch):
    folder = write_fake_folder(tmp_path / "fake-fmnist", n_train=20, n_test=10)
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    ds = load_dataset()
    assert ds.x_train.shape == (20, 28, 28) and ds.x_test.shape == (10, 28, 28)
    assert ds.source.folder == str(folder)
    assert ds.source.official is False


def test_missing_folder_names_env_variable_and_folder(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv(DATA_DIR_ENV, str(missing))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset()
    message = str(info.value)
    assert DATA_DIR_ENV in message and str(missing) in message


def test_folder_missing_one_file(tmp_path):
    folder = write_fake_folder(tmp_path / "partial")
    (folder / DATA_FILES["test_labels"]).unlink()
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset(folder)


@pytest.mark.parametrize(
    "damage",
    ["not_gzip", "truncated_gzip", "wrong_magic", "short_payload", "label_out_of_range", "count_mismatch"],
)
def test_corrupt_files_raise_corrupt_data_error(tmp_path, damage):
    folder = write_fake_folder(tmp_path / damage)
    images_path = folder / DATA_FILES["train_images"]
    labels_path = folder / DATA_FILES["train_labels"]
    if damage == "not_gzip":
        images_path.write_bytes(b"this is not a gzip file at all")
    elif damage == "truncated_gzip":
        raw = images_path.read_bytes()
        images_path.write_bytes(raw[: len(raw) // 2])
    elif damage == "wrong_magic":
        raw = gzip.decompress(images_path.read_bytes())
        images_path.write_bytes(gzip.compress(struct.pack(">I", 1234) + raw[4:]))
    elif damage == "short_payload":
        raw = gzip.decompress(images_path.read_bytes())
        images_path.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "label_out_of_range":
        labels_path.write_bytes(gzip.compress(_idx_labels(np.full(20, 12))))
    elif damage == "count_mismatch":  # 19 labels for 20 images
        labels_path.write_bytes(gzip.compress(_idx_labels(np.zeros(19))))
    with pytest.raises(CorruptDataError) as info:
        load_dataset(folder)
    assert isinstance(info.value, DataError)
    assert str(info.value)


# ------------------------------------------------------------------ normalize
def test_normalize_uint8_batch():
    images = np.array([[[0, 255], [128, 1]]], dtype=np.uint8).repeat(3, axis=0)
    out = normalize(images)
    assert out.shape == (3, 2, 2, 1) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert out[0, 1, 0, 0] == pytest.approx(128 / 255)


def test_normalize_real_images_range_and_shape(real_dataset):
    out = normalize(real_dataset.x_test[:64])
    assert out.shape == (64, 28, 28, 1) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() == 1.0


def test_normalize_keeps_floats_and_4d_layout():
    x = np.random.default_rng(0).random((2, 28, 28, 1))
    out = normalize(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, x, rtol=1e-6)


# ------------------------------------------------------------------ stratified split
def test_stratified_split_sizes_and_balance(real_dataset):
    split = stratified_split(real_dataset.x_train, real_dataset.y_train)
    assert len(split.y_val) == VALIDATION_SIZE and split.x_val.shape == (VALIDATION_SIZE, 28, 28)
    assert len(split.y_train) == 60_000 - VALIDATION_SIZE and len(split.x_train) == len(split.y_train)
    assert np.bincount(split.y_val, minlength=NUM_CLASSES).tolist() == [500] * NUM_CLASSES
    assert np.bincount(split.y_train, minlength=NUM_CLASSES).tolist() == [5500] * NUM_CLASSES


def test_stratified_split_is_seeded_disjoint_and_complete(real_dataset):
    labels = real_dataset.y_train
    ids = np.arange(len(labels))  # split the indices themselves to see which rows went where
    a = stratified_split(ids, labels, seed=1)
    b = stratified_split(ids, labels, seed=1)
    c = stratified_split(ids, labels, seed=2)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(np.sort(a.x_val), np.sort(c.x_val))
    assert np.intersect1d(a.x_train, a.x_val).size == 0
    assert np.array_equal(np.sort(np.concatenate([a.x_train, a.x_val])), ids)
    # Labels travel with their images.
    np.testing.assert_array_equal(labels[a.x_val], a.y_val)
    np.testing.assert_array_equal(labels[a.x_train], a.y_train)


def test_stratified_split_uneven_classes_keeps_proportions():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    split = stratified_split(np.arange(100), labels, val_size=10, seed=0)
    assert np.bincount(split.y_val, minlength=3).tolist() == [7, 2, 1]
    assert len(split.y_train) == 90


@pytest.mark.parametrize("val_size", [0, 100, -5])
def test_stratified_split_rejects_bad_sizes(val_size):
    with pytest.raises(ValueError):
        stratified_split(np.arange(100), np.arange(100) % 10, val_size=val_size)


# ------------------------------------------------------------------ no dataset: download once a minute at most
@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    """FMNIST_DATA_DIR unset and an empty Keras cache: load_dataset() would download."""
    import fmnist_core.data as data

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    calls = []

    def failing_download() -> None:
        calls.append(1)
        raise OSError("no route to host")

    monkeypatch.setattr(data, "downloader", failing_download)
    data.forget_failed_download()
    yield calls
    data.forget_failed_download()


def test_a_failed_download_is_not_retried_on_every_load(empty_keras_cache, tmp_path):
    import fmnist_core.data as data

    for _ in range(3):
        with pytest.raises(DataNotFoundError) as info:
            load_dataset()
    assert len(empty_keras_cache) == 1, "three loads within a minute must try the download once"
    message = str(info.value)
    assert str(tmp_path / "keras") in message and DATA_DIR_ENV in message and data.DOWNLOAD_COMMAND in message
    assert "None" not in message and message.count(DATA_DIR_ENV) <= 2

    data.forget_failed_download()  # the app's "Try again"
    with pytest.raises(DataNotFoundError):
        load_dataset()
    assert len(empty_keras_cache) == 2


def test_a_failed_download_is_retried_after_the_wait(empty_keras_cache, monkeypatch):
    import fmnist_core.data as data

    monkeypatch.setattr(data, "DOWNLOAD_RETRY_SECONDS", 0.0)
    for _ in range(2):
        with pytest.raises(DataNotFoundError):
            load_dataset()
    assert len(empty_keras_cache) == 2


def test_offline_switch_fails_fast_without_touching_the_network(tmp_path, monkeypatch):
    import time

    import fmnist_core.data as data

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setattr(data, "downloader", data.download_with_keras)
    data.forget_failed_download()
    started = time.perf_counter()
    with pytest.raises(DataNotFoundError, match=data.OFFLINE_ENV):
        load_dataset()
    assert time.perf_counter() - started < 1.0
    data.forget_failed_download()


def test_read_source_names_the_same_copy_without_decoding(real_dataset):
    from fmnist_core.data import read_source

    assert read_source() == real_dataset.source

"""python -m fmnist_core arch show|list and train --arch-file: tables, specification files, one-line errors."""

from __future__ import annotations

import json

import pytest

from fmnist_core.archspec import ArchitectureSpec, Conv, Flatten, GlobalAvgPool, spec_from_json
from fmnist_core.archspec_store import ArchitectureLibrary
from fmnist_core.cli import build_parser, config_from_args, main
from fmnist_core.models import ARCHITECTURES


def test_arch_list_shows_builtin_and_saved_with_counts(tmp_path, capsys):
    ArchitectureLibrary(tmp_path).save(ArchitectureSpec("mine", (Conv(4), GlobalAvgPool()), "Mine"))
    assert main(["--runs-dir", str(tmp_path), "arch", "list"]) == 0
    out = capsys.readouterr().out
    assert "seed_cnn" in out and "225,034" in out and "2,631,040" in out
    assert "mine" in out and "saved" in out and f"{4 * 9 + 4 + 4 * 10 + 10:,}" in out
    assert main(["--runs-dir", str(tmp_path), "arch", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["large_cnn"]["parameters"] == 622_058 and rows["mine"]["builtin"] is False


def test_arch_show_prints_the_table_and_the_json_round_trips(tmp_path, capsys):
    assert main(["arch", "show", "seed_cnn"]) == 0
    out = capsys.readouterr().out
    assert "Conv 32 3x3, valid, relu" in out and "26 x 26 x 32" in out and "194,688" in out
    assert "total" in out and "225,034" in out
    assert main(["arch", "show", "fast_cnn", "--json"]) == 0
    path = tmp_path / "fast.json"
    path.write_text(capsys.readouterr().out)
    assert spec_from_json(path.read_text()) == ARCHITECTURES["fast_cnn"].spec
    assert main(["arch", "show", str(path)]) == 0
    assert "14,677,760" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"name": "x", "layers": [{"type": "dense"}]}', "Layer 1 (dense): a dense layer needs a vector"),
        ('{"name": "x", "layers": [{"type": "magic"}]}', "unknown type 'magic'"),
        ("not json", "not valid JSON"),
    ],
)
def test_arch_errors_are_one_line_on_stderr(tmp_path, capsys, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["arch", "show", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and words in captured.err and captured.err.count("\n") == 1
    assert main(["arch", "show", "no_such_architecture"]) == 2
    assert "no architecture or file 'no_such_architecture'" in capsys.readouterr().err


def test_train_arch_file_puts_the_spec_in_the_config(tmp_path, capsys):
    spec = ArchitectureSpec("from_file", (Conv(8), Flatten()))
    path = tmp_path / "net.json"
    path.write_text(spec.to_json())
    config = config_from_args(build_parser().parse_args(["train", "--preset", "seed", "--arch-file", str(path)]))
    assert config.architecture == "from_file" and config.architecture_spec == spec and config.epochs == 50
    path.write_text('{"name": "x", "layers": [{"type": "max_pool", "size": 8}, {"type": "max_pool", "size": 8}]}')
    assert main(["train", "--arch-file", str(path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "Layer 2 (max_pool)" in err and "cannot shrink a 3x3 map" in err and err.count("\n") == 1

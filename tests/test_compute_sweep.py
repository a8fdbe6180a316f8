"""benchmarks.compute_sweep (issue #17's experiments): every variant is a valid network, and the networks put in
the registry are exactly the ones whose compute docs/compute.md reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from benchmarks.compute_sweep import VARIANTS, main
from fmnist_core.archspec import ArchitectureSpec, layer_table, validate
from fmnist_core.models import ARCHITECTURES


@pytest.mark.parametrize("name", sorted(name for name, variant in VARIANTS.items() if variant.layers))
def test_every_variant_is_a_valid_network(name):
    spec = ArchitectureSpec(f"x_{name}", VARIANTS[name].layers)
    validate(spec)
    assert layer_table(spec).multiply_adds > 0


def test_the_registry_networks_are_the_measured_variants():
    assert ARCHITECTURES["lean_cnn"].spec.layers == VARIANTS["q5"].layers
    assert ARCHITECTURES["lite_cnn"].spec.layers == VARIANTS["d5"].layers
    assert ARCHITECTURES["slim_cnn"].spec.layers == VARIANTS["p5"].layers == VARIANTS["p6"].layers
    assert (VARIANTS["q5"].changes, VARIANTS["d5"].changes) == ({"epochs": 5}, {"epochs": 5})
    assert VARIANTS["p6"].changes == {"epochs": 6}


def test_unknown_variants_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["no_such_variant"])
    assert "invalid choice" in capsys.readouterr().err

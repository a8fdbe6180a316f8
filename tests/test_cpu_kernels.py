"""TensorFlow's oneDNN kernels are chosen on x86-64 CPUs with AVX2 and FMA, before TensorFlow is imported."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from fmnist_core.cpu_kernels import ONEDNN_VARIABLE, choose_cpu_kernels, onednn_state, onednn_wanted
from fmnist_core.hardware_probe import cpu_flags


@pytest.mark.parametrize(
    ("machine", "flags", "wanted"),
    [
        ("x86_64", {"sse4_2", "avx", "avx2", "fma"}, True),  # the AVX2-only EPYC
        ("AMD64", {"avx2", "fma", "avx512f", "avx512_bf16"}, True),  # TensorFlow turns it on there itself
        ("x86_64", {"avx", "avx2"}, False),  # no FMA
        ("x86_64", {"sse4_2"}, False),
        ("aarch64", {"avx2", "fma"}, False),  # not an x86 CPU, whatever its flags say
        ("arm64", set(), False),
    ],
)
def test_onednn_is_wanted_on_x86_64_with_avx2_and_fma(machine, flags, wanted):
    assert onednn_wanted(machine, flags) is wanted


def test_the_choice_is_made_only_when_nobody_chose_and_tensorflow_is_not_imported_yet():
    avx2 = {"avx2", "fma"}
    environ: dict[str, str] = {}
    assert choose_cpu_kernels(environ, machine="x86_64", flags=avx2, modules={}) == "1"
    assert environ == {ONEDNN_VARIABLE: "1"} and onednn_state(environ) == "oneDNN on"
    user = {ONEDNN_VARIABLE: "0"}
    assert choose_cpu_kernels(user, machine="x86_64", flags=avx2, modules={}) is None
    assert user == {ONEDNN_VARIABLE: "0"} and onednn_state(user) == "oneDNN off"
    late: dict[str, str] = {}
    assert choose_cpu_kernels(late, machine="x86_64", flags=avx2, modules={"tensorflow": object()}) is None
    assert late == {} and onednn_state(late) == "TensorFlow's default"
    other: dict[str, str] = {}
    assert choose_cpu_kernels(other, machine="aarch64", flags=avx2, modules={}) is None and other == {}


def _variable_after_import(extra_env: dict[str, str]) -> str:
    env = {key: value for key, value in os.environ.items() if key != ONEDNN_VARIABLE}
    env.update(extra_env)
    code = f"import os, fmnist_core; print(os.environ.get({ONEDNN_VARIABLE!r}))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            check=True)
    return result.stdout.strip()


def test_importing_the_package_sets_the_variable_on_this_machine_and_keeps_a_users_value():
    expected = "1" if onednn_wanted(platform.machine(), cpu_flags()) else "None"
    assert _variable_after_import({}) == expected
    assert _variable_after_import({ONEDNN_VARIABLE: "0"}) == "0"

"""Mixed precision only where it is faster: the feature check and the measured-speed rule."""

from __future__ import annotations

from fmnist_core.hardware_probe import MIN_SPEEDUP, cpu_flags, decide_cpu_precision, has_native_bf16

EPYC_AVX2 = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"
XEON_AMX = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile\n"


def _never(dtype: str) -> float:
    raise AssertionError("a CPU without native bfloat16 must not be measured")


def test_cpu_without_native_bf16_gets_float32_without_measuring():
    flags = cpu_flags(EPYC_AVX2)
    assert "avx2" in flags and not has_native_bf16(flags)
    decision = decide_cpu_precision(flags, measure=_never)
    assert decision.policy is None and "no native bfloat16" in decision.reason


def test_native_bf16_is_used_only_when_measured_faster():
    flags = cpu_flags(XEON_AMX)
    fast = decide_cpu_precision(flags, measure=lambda d: {"float32": 200.0, "bfloat16": 600.0}[d])
    assert fast.policy == "mixed_bfloat16" and "3.00x" in fast.reason
    slow = decide_cpu_precision(
        flags, measure=lambda d: {"float32": 200.0, "bfloat16": 200.0 * (MIN_SPEEDUP - 0.05)}[d])
    assert slow.policy is None and slow.bfloat16_gflops < slow.float32_gflops * MIN_SPEEDUP


def test_unreadable_cpuinfo_means_no_flags():
    assert cpu_flags("") == set()

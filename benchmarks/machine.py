"""What machine and software a benchmark ran on, read from /proc and the installed packages."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from fmnist_core.cpu_kernels import onednn_state

from . import PROJECT_DIR


@dataclass(frozen=True)
class MachineInfo:
    timestamp_utc: str
    cpu_model: str
    logical_cpus: int | None
    usable_cpus: int  # os.sched_getaffinity: the cores this process may run on
    memory_gib: float | None
    load_average: tuple[float, float, float] | None
    os_name: str
    cpu_flags: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = "unknown"
    cpu_kernels: str | None = None  # TensorFlow's CPU kernels (fmnist_core.cpu_kernels.onednn_state)

    def cpu_line(self) -> str:
        flags = f" [{', '.join(self.cpu_flags)}]" if self.cpu_flags else ""
        kernels = f"; TensorFlow kernels: {self.cpu_kernels}" if self.cpu_kernels else ""
        return f"{self.cpu_model}, {self.usable_cpus} usable of {self.logical_cpus} logical CPUs{flags}{kernels}"

    def memory_line(self) -> str:
        return f"{self.memory_gib:.1f} GiB" if self.memory_gib is not None else "unknown"

    def load_line(self) -> str:
        if self.load_average is None:
            return "unknown"
        return " / ".join(f"{value:.2f}" for value in self.load_average) + " (1 / 5 / 15 min)"

    def versions_line(self) -> str:
        return ", ".join(f"{name} {version}" for name, version in self.versions.items())


_INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def read_cpuinfo(text: str) -> tuple[str, int, list[str]]:
    """CPU model name, logical CPU count and notable SIMD flags from /proc/cpuinfo text."""
    model = "unknown"
    count = 0
    flags: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            count += 1
        elif key in ("model name", "Model name", "cpu model") and model == "unknown":
            model = " ".join(value.split()) or "unknown"
        elif key in ("flags", "Features") and not flags:
            present = set(value.split())
            flags = [flag for flag in _INTERESTING_FLAGS if flag in present]
    return model, count, flags


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for label, names in (
        ("tensorflow", ("tensorflow-cpu", "tensorflow", "tf-nightly")),
        ("keras", ("keras",)),
        ("numpy", ("numpy",)),
        ("streamlit", ("streamlit",)),
        ("pillow", ("pillow",)),
        ("playwright", ("playwright",)),
    ):
        for name in names:
            found = _version(name)
            if found:
                versions[label] = found
                break
        else:
            versions[label] = "not installed"
    return versions


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10,
        )
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def collect() -> MachineInfo:
    try:
        model, count, flags = read_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        model, count, flags = platform.processor() or "unknown", 0, []
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return MachineInfo(
        timestamp_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        cpu_model=model,
        logical_cpus=count or os.cpu_count(),
        usable_cpus=usable,
        memory_gib=_memory_gib(),
        load_average=load,
        os_name=f"{platform.system()} {platform.release()} ({platform.machine()})",
        cpu_flags=flags,
        versions=package_versions(),
        git_commit=git_commit(),
        cpu_kernels=onednn_state(),
    )

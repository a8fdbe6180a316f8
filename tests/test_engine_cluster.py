"""Two Ray nodes on this machine (a head and a second node, each its own `ray start` process),
the engine connected through FMNIST_RAY_ADDRESS: jobs land on both nodes and every run reaches
the app's runs folder (shared storage: here the same disk). Slow: several minutes on 2 cores."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import report_optimiser_config

from fmnist_core.constants import PROJECT_DIR
from fmnist_core.engine import Engine, EngineSettings, JobStatus
from fmnist_core.runs import RunStore

pytestmark = pytest.mark.slow

SHORT = report_optimiser_config(epochs=1, batch_size=32, train_limit=300, validation="holdout", seed=9)
RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([RAY, "start", *args, "--block"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _session(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True, check=True).stdout
    return [int(p) for p, s, stat in (line.split() for line in out.splitlines()) if int(s) == sid and "Z" not in stat]


def _stop(process: subprocess.Popen) -> None:
    """End a `ray start --block` process and every process of its session (it started them)."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        for pid in _session(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _session(process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)


def _alive_nodes(address: str, env: dict) -> int:
    probe = (f"import ray; ray.init(address={address!r}, log_to_driver=False, configure_logging=False); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_data_folder):
    folder = tmp_path_factory.mktemp("cluster")
    # Each node keeps its files in a folder of its own, not Ray's default /tmp/ray: there `ray start --head`
    # overwrites /tmp/ray/ray_current_cluster, which belongs to whichever user started Ray there first, so on
    # a machine shared with another user the head died of a PermissionError. Short paths: Ray's Unix sockets
    # live below these folders and a socket path may not exceed 107 bytes.
    ray_temp = Path(tempfile.mkdtemp(prefix="fmnist-ray-"))
    # Token authentication on (Ray's own; the token is ~/.ray/auth_token, made if missing).
    subprocess.run([RAY, "get-auth-token", "--generate"], capture_output=True, check=False)
    env = {**os.environ, "FMNIST_DATA_DIR": str(real_data_folder), "PYTHONPATH": str(PROJECT_DIR),
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    for name in ("RAY_ADDRESS", "FMNIST_RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        env.pop(name, None)
    head = _start(["--head", "--port=0", "--num-cpus=1", "--include-dashboard=false", "--disable-usage-stats",
                   f"--temp-dir={ray_temp / 'head'}"], folder / "head.log", env)
    processes = [head]
    try:
        deadline = time.monotonic() + 180
        address = None
        while address is None and time.monotonic() < deadline:
            match = re.search(r"ray start --address='([^']+)'", (folder / "head.log").read_text())
            address = match.group(1) if match else None
            time.sleep(0.5)
        assert address, (folder / "head.log").read_text()
        processes.append(_start([f"--address={address}", "--num-cpus=1", "--disable-usage-stats",
                                 f"--temp-dir={ray_temp / 'node'}"], folder / "node.log", env))
        deadline = time.monotonic() + 180
        while _alive_nodes(address, env) < 2:
            assert time.monotonic() < deadline, (folder / "node.log").read_text()
            time.sleep(2)
        yield address, folder
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(ray_temp, ignore_errors=True)


def test_jobs_land_on_both_nodes_and_every_run_reaches_the_runs_folder(cluster, real_data_folder, monkeypatch):
    address, folder = cluster
    monkeypatch.setenv("FMNIST_DATA_DIR", str(real_data_folder))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the engine process inherits it
    runs = folder / "runs"
    engine = Engine(EngineSettings(runs_root=runs, address=address, parallel=1, queue_limit=10))
    try:
        jobs = [engine.submit(SHORT, f"student-{i}") for i in range(4)]
        deadline = time.monotonic() + 900
        while any(engine.get(j.job_id).status.active for j in jobs):
            assert time.monotonic() < deadline, [engine.get(j.job_id).to_dict() for j in jobs]
            time.sleep(0.5)
        final = [engine.get(j.job_id) for j in jobs]
        assert [j.status for j in final] == [JobStatus.COMPLETED] * 4, [j.to_dict() for j in final]
        assert engine.status().mode == "cluster" and engine.status().address == address
        nodes = {j.state.node_id for j in final}
        assert len(nodes) == 2, nodes  # both nodes trained
        store = RunStore(runs)
        for job in final:
            run = store.get(job.state.run_id)
            assert run.status == "completed" and run.has_model and run.test_accuracy == job.state.test_accuracy
    finally:
        assert engine.shutdown(timeout=90)

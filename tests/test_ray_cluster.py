"""`rewardlab sweep --backend ray --address HOST:PORT` joins an existing cluster: a real one, started here
with `ray start --head` (Ray 2.60's token authentication on, as `ray start` sets it up), gives the same
per-trial results as the local process pool. Its own module: `ray stop` ends every Ray process of the
user, so no other module's Ray may be running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SWEEP = """
[base]
seed = 0
figures = false
[base.world]
name = "objectworld"
size = 6
[base.data]
demos = 4
[[methods]]
name = "mce"
iterations = 10
[[methods]]
name = "maxent"
iterations = 10
[grid]
seed = [0, 1]
"""
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head node with 2 CPUs and token authentication, its token in a temporary HOME's ~/.ray/auth_token."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    # with a token in ~/.ray/auth_token, `ray start` turns token authentication on (as on a user's machine)
    subprocess.run([str(RAY), "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    start = [str(RAY), "start", "--head", "--num-cpus", "2", "--port", str(port), "--node-ip-address", "127.0.0.1"]
    subprocess.run([*start, "--include-dashboard", "false", "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def _sweep(tmp_path: Path, out: str, *extra: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "sweep.toml").write_text(SWEEP)
    command = [sys.executable, "-m", "rewardlab.cli", "sweep", str(tmp_path / "sweep.toml"), "--out", str(tmp_path / out), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _metrics(out: Path) -> dict[str, dict[str, float]]:
    trials = json.loads((out / "trials.json").read_text())["trials"]
    return {t["name"]: json.loads((out / t["dir"] / "result.json").read_text())["metrics"] for t in trials}


def test_a_sweep_on_an_existing_cluster_equals_the_local_pool(cluster, tmp_path: Path) -> None:
    address, env = cluster
    on_cluster = _sweep(tmp_path, "ray", "--backend", "ray", "--address", address, env={**env, "RAY_AUTH_MODE": "token"})
    assert on_cluster.returncode == 0, on_cluster.stderr[-2000:]
    local = _sweep(tmp_path, "local", env=env)
    assert local.returncode == 0, local.stderr[-2000:]
    ray_metrics, local_metrics = _metrics(tmp_path / "ray"), _metrics(tmp_path / "local")
    assert len(ray_metrics) == 4 and ray_metrics == local_metrics


def test_a_cluster_that_wants_a_token_is_refused_with_the_fix(cluster, tmp_path: Path) -> None:
    address, env = cluster
    refused = _sweep(tmp_path, "ray", "--backend", "ray", "--address", address, env={**env, "RAY_AUTH_MODE": "disabled"})
    assert refused.returncode == 2
    assert "error: --address: no Ray cluster could be joined" in refused.stderr and "RAY_AUTH_MODE=token" in refused.stderr


def test_an_address_where_nothing_listens_fails_at_once_and_writes_nothing(tmp_path: Path) -> None:
    refused = _sweep(tmp_path, "ray", "--backend", "ray", "--address", f"127.0.0.1:{_free_port()}", env=dict(os.environ))
    assert refused.returncode == 2 and "error: --address: nothing accepts connections" in refused.stderr
    assert not (tmp_path / "ray").exists()

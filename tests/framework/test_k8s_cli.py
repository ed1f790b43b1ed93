"""Here no cluster is reachable: `doctor --runner k8s` says so clearly (and where it looked), and `run --runner
k8s` exits 2 with the same message before anything is created, both through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "nomos_testing.cli"]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1", **env}
    values.pop("K8S_RUNNER_CONTEXT", None)
    return subprocess.run([*CLI, *args], cwd=REPO, env=values, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _kubeconfig(tmp_path: Path) -> Path:
    """A kind-style kubeconfig whose API server does not answer (nothing listens on port 1)."""
    path = tmp_path / "kubeconfig"
    path.write_text("""apiVersion: v1
kind: Config
current-context: kind-nomos
contexts: [{name: kind-nomos, context: {cluster: kind-nomos, user: kind-nomos}}]
clusters: [{name: kind-nomos, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: kind-nomos, user: {token: t}}]
""")
    return path


def test_doctor_and_run_say_no_cluster_is_reachable_without_a_kubeconfig(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-kubeconfig")
    doctor = cli("doctor", "--runner", "k8s", KUBECONFIG=missing)
    assert doctor.returncode == 2, doctor.stdout + doctor.stderr
    message = f"no Kubernetes cluster reachable: no kubeconfig at {missing} and not inside a cluster"
    assert message in doctor.stdout and "kind create cluster" in doctor.stdout
    assert "ok  Kubernetes client library: kr8s 0." in doctor.stdout
    out = tmp_path / "run"
    run = cli("run", "scenarios/smoke.toml", "--runner", "k8s", "--out", str(out), KUBECONFIG=missing)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stdout + run.stderr and "kind create cluster" in run.stdout + run.stderr
    assert not (out / "k8s").exists()  # stopped at preflight: nothing generated, nothing applied


def test_doctor_and_run_name_the_context_whose_server_does_not_answer(tmp_path: Path) -> None:
    kubeconfig = str(_kubeconfig(tmp_path))
    doctor = cli("doctor", "--runner", "k8s", KUBECONFIG=kubeconfig)
    assert doctor.returncode == 2
    assert f"ok  kubeconfig and context: context kind-nomos, server https://127.0.0.1:1 ({kubeconfig})" in doctor.stdout
    line = next(x for x in doctor.stdout.splitlines() if "cluster reachable:" in x)
    assert "no Kubernetes cluster reachable:" in line
    assert f"[context kind-nomos (https://127.0.0.1:1) of {kubeconfig}]" in line
    run = cli("run", "scenarios/smoke.toml", "--runner", "k8s", "--out", str(tmp_path / "run"), KUBECONFIG=kubeconfig)
    assert run.returncode == 2 and line.split("cluster reachable: ", 1)[1] in run.stdout + run.stderr


def test_image_load_says_what_it_needs_before_building_anything(tmp_path: Path) -> None:
    kind_context = cli("image", "load", KUBECONFIG=str(_kubeconfig(tmp_path)), PATH="/usr/bin:/bin")
    assert kind_context.returncode == 2
    assert "context kind-nomos is a kind cluster, but `kind` is not on PATH" in kind_context.stdout
    assert "built" not in kind_context.stdout
    remote = cli("image", "load", KUBECONFIG=str(tmp_path / "none"))
    assert remote.returncode == 2 and "push the images to a registry" in remote.stdout

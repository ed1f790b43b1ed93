"""The k8s runner on a real cluster, through the real CLI: the smoke scenario passes, the chaos scenario's
faults (restart = pod deleted and back with its data) pass, `K8S_RUNNER_PRESERVE=1` keeps the namespace and
`down` deletes it. Skipped with the reason when no cluster is reachable (tests/k8s/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nomos_testing.runners.k8s.api import Kr8sApi

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "nomos_testing.cli"]

pytestmark = [pytest.mark.timeout(900)]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1", **env}
    return subprocess.run([*CLI, *args], cwd=REPO, env=values, capture_output=True, text=True, timeout=800,
                          stdin=subprocess.DEVNULL)


def namespaces_of(run_id: str) -> list[str]:
    async def listing() -> list[str]:
        api = await Kr8sApi.connect()
        try:
            return [str(ns["metadata"]["name"]) for ns in await api.list("Namespace")
                    if (ns["metadata"].get("annotations") or {}).get("org.nomos-testing.run-id") == run_id
                    and (ns.get("status") or {}).get("phase") != "Terminating"]
        finally:
            await api.close()

    return asyncio.run(listing())


def test_doctor_finds_the_cluster(k8s_cluster: str) -> None:
    done = cli("doctor", "--runner", "k8s")
    assert "ok  cluster reachable: Kubernetes" in done.stdout, done.stdout
    assert "ok  permission to create namespaces" in done.stdout, done.stdout


def test_smoke_scenario_passes_and_leaves_nothing(k8s_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = cli("run", "scenarios/smoke.toml", "--runner", "k8s", "-t", "30", "--out", str(out))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads((out / "report.json").read_text())
    assert report["runner"] == "k8s" and report["passed"]
    assert (out / "k8s" / "00-namespace.yaml").is_file()
    assert (out / "logs" / "nomos-node-0.log").stat().st_size > 0
    assert namespaces_of(report["run_id"]) == []


def test_chaos_scenario_without_its_pause_passes(k8s_cluster: str, tmp_path: Path) -> None:
    """scenarios/chaos.toml minus the pause fault, which Kubernetes cannot do (the runner refuses the file as it
    is, before deployment): random restarts (pod deleted, back with its data), the partition (NetworkPolicy),
    the kill and start, transfers all along, and the fault checks."""
    text = (REPO / "scenarios" / "chaos.toml").read_text()
    start = text.index('[[workloads.faults]]   # SIGSTOP')
    end = text.index("[[workloads.faults]]", start + 1)
    scenario = tmp_path / "chaos-k8s.toml"
    scenario.write_text(text[:start] + text[end:])
    out = tmp_path / "run"
    done = cli("run", str(scenario), "--runner", "k8s", "--out", str(out))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    events = (out / "events.jsonl").read_text()
    assert '"node.restart"' in events and '"net.partition"' in events and '"node.kill"' in events


def test_preserve_keeps_the_namespace_until_down(k8s_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = cli("run", "scenarios/smoke.toml", "--runner", "k8s", "-t", "15", "--out", str(out),
               K8S_RUNNER_PRESERVE="1")
    run_id = json.loads((out / "report.json").read_text())["run_id"]
    assert "kubectl" in done.stderr and "delete namespace" in done.stderr
    assert len(namespaces_of(run_id)) == 1
    down = cli("down", run_id)
    assert down.returncode == 0, down.stdout + down.stderr
    assert namespaces_of(run_id) == []

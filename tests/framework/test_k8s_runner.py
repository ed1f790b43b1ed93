"""The k8s runner's decisions, driven through an in-memory Kubernetes (k8s_fake.FakeKube): no API server can
run on this project's machines, so the real thing is exercised by tests/k8s/ wherever a cluster is reachable.
Apply order, waiting with a diagnosis, port-forwards or NodePorts behind the endpoints, logs of every life of
a pod, node control, partitions, teardown, preserve, clean/sweep, capabilities refused before deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from nomos_testing.errors import DeploymentError, PlanError
from nomos_testing.runners.k8s import manifests as m
from nomos_testing.runners.k8s.cluster import K8sCluster
from nomos_testing.runners.k8s.deployer import K8sDeployer, sweep_namespaces
from nomos_testing.runners.k8s.diagnose import view
from nomos_testing.runners.k8s.images import local_cluster, nodes_having
from nomos_testing.runners.shared.docker import OWNER_LABEL, RUN_LABEL
from nomos_testing.runners.shared.intent import NodeState
from nomos_testing.runners.shared.owner import owner_token
from nomos_testing.runners.shared.state import read_state
from nomos_testing.scenario.validate import validate_plan
from tests.compose.compose_helpers import make_topology
from tests.framework.k8s_fake import FakeKube

RUN_ID = "k8s-unit-20260101-000000-abcdef"
NAMESPACE = f"nomos-{RUN_ID}"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("K8S_RUNNER_NAMESPACE", "K8S_RUNNER_NODE_HOST", "K8S_RUNNER_PRESERVE", "NOMOS_K8S_EXTERNAL_PROMETHEUS",
                 "K8S_RUNNER_STORAGE_CLASS", "NOMOS_TESTNET_IMAGE_PULL_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("K8S_RUNNER_DEPLOYMENT_TIMEOUT_SECS", "2")
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


def deployer(fake: FakeKube) -> K8sDeployer:
    async def connect() -> FakeKube:
        return fake

    return K8sDeployer(chain_start_lead_s=0.5, connect=connect)


async def deploy(fake: FakeKube, tmp_path: Path, validators: int = 2, executors: int = 1) -> K8sCluster:
    topology = make_topology(validators=validators, executors=executors)
    return await deployer(fake).deploy(topology, RUN_ID, tmp_path)


async def test_deploy_applies_in_order_and_serves_endpoints_through_port_forwards(tmp_path: Path) -> None:
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path)
    kinds = [kind for kind, _ in fake.created]
    assert fake.created[0] == ("Namespace", NAMESPACE)
    for node in ("validator-0", "validator-1", "executor-0"):  # a node's ConfigMap and Service before its pods
        order = [fake.created.index((kind, name)) for kind, name in
                 (("ConfigMap", m.config_map_name(node)), ("Service", node), ("StatefulSet", node))]
        assert order == sorted(order)
    assert kinds.count("StatefulSet") == 3 and "Deployment" in kinds  # Prometheus
    forwarded = [(pod, port) for call, pod, port, _ in (c for c in fake.calls if c[0] == "port_forward")]
    assert ("validator-1-0", 18080) in forwarded and ("validator-1-0", 18081) in forwarded
    endpoint = cluster.endpoint("validator-1")
    assert endpoint.api_url.startswith("http://127.0.0.1:4") and endpoint.api_url != endpoint.testing_url
    assert cluster.prometheus_url and cluster.prometheus_url.startswith("http://127.0.0.1:")
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir())[0] == "00-namespace.yaml"
    state = read_state(tmp_path)
    assert state is not None and state.runner == "k8s" and state.runner_state["namespace"] == NAMESPACE
    assert state.node("validator-0").runner["pod"] == "validator-0-0"
    await cluster.teardown()
    assert ("delete", "Namespace", NAMESPACE, None) in fake.calls and not await fake.list("Pod", NAMESPACE)
    assert len(fake.stopped_forwards) == 7 and read_state(tmp_path) is None


async def test_node_ports_and_an_external_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_RUNNER_NODE_HOST", "10.1.2.3")
    monkeypatch.setenv("NOMOS_K8S_EXTERNAL_PROMETHEUS", "http://prom.example:9090")
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path, validators=1, executors=0)
    assert cluster.endpoint("validator-0").api_url == "http://10.1.2.3:30080"
    assert cluster.prometheus_url == "http://prom.example:9090"
    assert not [c for c in fake.calls if c[0] == "port_forward"] and "Deployment" not in dict(fake.created)


async def test_an_image_pull_failure_names_the_pod_state_events_and_remedy_then_cleans_up(tmp_path: Path) -> None:
    fake = FakeKube()
    fake.waiting["validator-1"] = ("ImagePullBackOff", 'Back-off pulling image "nomos-testing-node:0.1.0"')
    fake.events.append({"metadata": {"namespace": NAMESPACE}, "involvedObject": {"name": "validator-1-0"},
                        "type": "Warning", "reason": "Failed", "count": 3,
                        "message": "Failed to pull image: not found", "lastTimestamp": "2026-01-01T00:00:01Z"})
    with pytest.raises(DeploymentError) as caught:
        await deploy(fake, tmp_path)
    message = caught.value.message
    assert "1 pod(s) cannot start" in message and "validator-1: pod validator-1-0: phase Pending" in message
    assert "waiting: ImagePullBackOff (Back-off pulling image" in message
    assert "Failed: Failed to pull image: not found (×3)" in message and "nomos-testing image load" in message
    assert "validator-0" not in message.split("\n", 1)[1]  # running pods are not listed
    assert ("delete", "Namespace", NAMESPACE, None) in fake.calls  # nothing left behind
    assert (tmp_path / "logs" / "nomos-node-0.log").read_text() == "log of validator-0-0\n"


async def test_a_pod_that_never_runs_fails_at_the_timeout_with_its_scheduling_reason(tmp_path: Path) -> None:
    fake = FakeKube()
    fake.unschedulable.add("executor-0")
    with pytest.raises(DeploymentError) as caught:
        await deploy(fake, tmp_path)
    assert "1 of 3 pod(s) not running after 2 s" in caught.value.message
    assert "not scheduled: 0/1 nodes are available: 1 Insufficient cpu." in caught.value.message
    assert "StorageClass" in caught.value.message and "K8S_RUNNER_DEPLOYMENT_TIMEOUT_SECS" in str(caught.value)


async def test_crash_loop_fails_at_once_with_the_previous_log(tmp_path: Path) -> None:
    fake = FakeKube()
    fake.waiting["validator-0"] = ("CrashLoopBackOff", "back-off 10s restarting failed container")
    with pytest.raises(DeploymentError, match="CrashLoopBackOff") as caught:
        await deploy(fake, tmp_path)
    assert "the node exits at start" in caught.value.message


async def test_an_existing_namespace_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_RUNNER_NAMESPACE", "nomos-pinned")
    fake = FakeKube()
    await fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nomos-pinned"}})
    with pytest.raises(DeploymentError, match="namespace nomos-pinned already exists"):
        await deploy(fake, tmp_path)
    monkeypatch.setenv("K8S_RUNNER_NAMESPACE", "Not_A_Label")
    with pytest.raises(PlanError, match="K8S_RUNNER_NAMESPACE"):
        await deploy(FakeKube(), tmp_path / "other")


async def test_node_control_scales_deletes_and_keeps_every_life_in_the_logs(tmp_path: Path) -> None:
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path)
    control = cluster.control
    assert control is not None and control.offered() == {"stop", "start", "kill", "restart", "partition"}
    fake.logs[("validator-1-0", False)] = "first life\n"
    await control.stop("validator-1")
    assert ("scale", "StatefulSet", "validator-1", 0) in fake.calls and fake.pod("validator-1-0", NAMESPACE) is None
    assert control.state_of("validator-1") is NodeState.STOPPED and await cluster.crashed() == {}
    fake.logs[("validator-1-0", False)] = "second life\n"
    await control.start("validator-1")
    assert ("scale", "StatefulSet", "validator-1", 1) in fake.calls and fake.pod("validator-1-0", NAMESPACE)
    await control.kill("validator-1")
    assert ("delete", "Pod", "validator-1-0", 0) in fake.calls
    await control.start("validator-1")
    old = fake.pod("executor-0-0", NAMESPACE)
    assert old is not None
    await control.restart("executor-0")
    new = fake.pod("executor-0-0", NAMESPACE)
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert ("delete", "Pod", "executor-0-0", None) in fake.calls and control.state_of("executor-0") is NodeState.RUNNING
    await cluster.collect_logs(tmp_path / "logs")
    assert (tmp_path / "logs" / "nomos-node-1.log").read_text() == "first life\nsecond life\nsecond life\n"
    assert (tmp_path / "logs" / "prometheus.log").is_file()


async def test_a_crash_is_reported_with_the_previous_container_log(tmp_path: Path) -> None:
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path)
    assert await cluster.crashed() == {}
    fake.logs[("validator-0-0", True)] = "Traceback: boom\n"
    fake.crash("validator-0-0", NAMESPACE, exit_code=3)
    crashed = await cluster.crashed()
    assert list(crashed) == ["validator-0"] and "exit 3 (Error)" in crashed["validator-0"]
    assert "Traceback: boom" in crashed["validator-0"]
    await cluster.collect_logs(tmp_path / "logs")
    log = (tmp_path / "logs" / "nomos-node-0.log").read_text()
    assert log.index("Traceback: boom") < log.index("container restarted by the kubelet") < log.index("log of")


async def test_partitions_are_one_network_policy_per_node_with_every_cut(tmp_path: Path) -> None:
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path, validators=3, executors=0)
    control = cluster.control
    assert control is not None
    first = await control.partition([["validator-0"], ["validator-1"]])  # validator-2 forms a third group
    second = await control.isolate("validator-2")
    policies = {p["metadata"]["name"]: p for p in await fake.list("NetworkPolicy", NAMESPACE)}
    assert sorted(policies) == ["partition-validator-0", "partition-validator-1", "partition-validator-2"]
    cut = policies["partition-validator-2"]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]
    assert cut["values"] == ["validator-0", "validator-1"]
    assert (tmp_path / "k8s" / "03-partition-validator-0.yaml").is_file()
    await control.heal(first)
    remaining = {p["metadata"]["name"] for p in await fake.list("NetworkPolicy", NAMESPACE)}
    assert remaining == {"partition-validator-0", "partition-validator-1", "partition-validator-2"}  # isolate holds
    await control.heal(second)
    assert not await fake.list("NetworkPolicy", NAMESPACE) and not list((tmp_path / "k8s").glob("03-*"))


async def test_preserve_keeps_the_namespace_and_prints_kubectl_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("K8S_RUNNER_PRESERVE", "1")
    fake = FakeKube()
    cluster = await deploy(fake, tmp_path, validators=1, executors=0)
    await cluster.teardown()
    printed = capsys.readouterr().err
    assert f"kubectl --context kind-fake -n {NAMESPACE} get pods,svc,sts,pvc,netpol" in printed
    assert f"kubectl --context kind-fake delete namespace {NAMESPACE}" in printed
    assert f"nomos-testing down {RUN_ID}" in printed
    assert ("Namespace", None, NAMESPACE) in fake.objects and read_state(tmp_path) is not None
    attached = deployer(fake).attach(read_state(tmp_path))  # what `down` does
    await attached.destroy()
    assert ("Namespace", None, NAMESPACE) not in fake.objects


async def test_sweep_deletes_only_namespaces_whose_owner_here_is_gone() -> None:
    fake = FakeKube()
    for name, owner, host in (("nomos-dead", "1:1.000", "here"), ("nomos-alive", owner_token(), "here"),
                              ("nomos-elsewhere", "1:1.000", "other-host")):
        spec = m.K8sSpec(run_id=name, namespace=name, node_image="x", owner=owner, host=host)
        await fake.create(m.namespace_manifest(spec))
    assert await sweep_namespaces(fake, dry_run=True, host="here") == ["namespace nomos-dead (run nomos-dead)"]
    assert ("Namespace", None, "nomos-dead") in fake.objects
    await sweep_namespaces(fake, dry_run=False, host="here")
    assert {k[2] for k in fake.objects} == {"nomos-alive", "nomos-elsewhere"}


async def test_clean_removes_the_namespace_of_an_abandoned_run(tmp_path: Path) -> None:
    from nomos_testing.runners.shared.index import IndexEntry

    fake = FakeKube()
    cluster = await deploy(fake, tmp_path, validators=1, executors=0)
    await cluster.stop_forwards()
    entry = IndexEntry(RUN_ID, str(tmp_path), "k8s", "run", "1:1.000", 0.0)
    assert await deployer(fake).remove_leftovers(entry) == [f"namespace {NAMESPACE}"]
    assert not [k for k in fake.objects if k[0] == "Namespace"] and read_state(tmp_path) is None


def test_unsupported_faults_are_refused_before_deployment() -> None:
    """pause, delay and loss: the k8s runner lacks them, so the plan stops at validation (exit 2), naming the
    runners that have them; restart, kill and partition pass."""
    from nomos_testing.scenario.builder import ScenarioBuilder

    def plan(kind: str, **params: object) -> object:
        return (ScenarioBuilder.with_node_counts(3, 0).with_run_duration(30)
                .fault(at=3, kind=kind, duration=2, **params).build())

    for kind, params in (("pause", {"node": "validator-1"}), ("delay", {"a": "validator-0", "b": "validator-1",
                                                                        "ms": 50})):
        with pytest.raises(PlanError, match=f"needs {kind}, which the k8s runner cannot do") as caught:
            validate_plan(plan(kind, **params), runner="k8s")  # type: ignore[arg-type]
        assert "--runner host" in (caught.value.remedy or "")
    for kind, params in (("kill", {"node": "validator-1"}), ("partition", {"groups": [["validator-0"]]})):
        validate_plan(plan(kind, **params), runner="k8s")  # type: ignore[arg-type]


def test_the_chaos_scenario_file_is_refused_naming_pause() -> None:
    from nomos_testing.scenario.files import load_scenario
    from nomos_testing.scenario.resolve import resolve_plan

    plan = resolve_plan(load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "chaos.toml"))
    with pytest.raises(PlanError, match="needs pause, which the k8s runner cannot do"):
        validate_plan(plan, runner="k8s")


def test_diagnosis_and_image_helpers() -> None:
    pod = {"metadata": {"uid": "u"}, "status": {"phase": "Running", "containerStatuses": [
        {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}
    seen = view("v-0", pod)
    assert not seen.running and seen.fatal and seen.last_exit == "exit 137 (OOMKilled)" and seen.restarts == 2
    assert view("v-0", None).phase == "absent"
    assert local_cluster("kind-ci") is not None and local_cluster("kind-ci").load_command("img:1") == [  # type: ignore[union-attr]
        "kind", "load", "docker-image", "img:1", "--name", "ci"]
    assert local_cluster("k3d-x").tool == "k3d" and local_cluster("minikube").tool == "minikube"  # type: ignore[union-attr]
    assert local_cluster("gke_project_zone_cluster") is None
    nodes = [{"metadata": {"name": "n1"}, "status": {"images": [{"names": ["docker.io/library/img:1"]}]}}]
    assert nodes_having(nodes, "img:1") == ["n1"] and nodes_having(nodes, "img:2") == []
    assert RUN_LABEL != OWNER_LABEL

"""The k8s runner's manifests, validated offline against the official Kubernetes OpenAPI schemas of several
Kubernetes versions (kubernetes-validate, strict: an unknown field is an error) for several topologies, and
what they must say: labels, stable DNS names, data volumes, image and pull policy, Prometheus or annotations,
NetworkPolicies for partitions, the files in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nomos_testing.runners.k8s import manifests as m
from nomos_testing.runners.shared.docker import OWNER_LABEL, RUN_LABEL
from nomos_testing.topology.model import GeneratedTopology
from tests.compose.compose_helpers import make_topology

# Three supported minor versions, oldest to newest the bundled schemas know (kind's default node image follows
# the newest); NetworkPolicy endPort is GA since 1.25.
K8S_VERSIONS = ("1.29", "1.33", "1.37")
RUN_ID = "smoke-20260101-120000-a1b2c3"
OWNER = "4242:1767225600.125"


def spec(**overrides: Any) -> m.K8sSpec:
    values: dict[str, Any] = {"run_id": RUN_ID, "namespace": m.namespace_name(RUN_ID),
                              "node_image": "nomos-testing-node:0.1.0", "owner": OWNER, "host": "ci-host",
                              "prometheus_image": "nomos-testing-prometheus:0.1.0",
                              "node_environment": {"POL_PROOF_DEV_MODE": "true"}}
    values.update(overrides)
    return m.K8sSpec(**values)


TOPOLOGIES = {
    "1 validator": (1, 0, {}),
    "3 validators + 1 executor": (3, 1, {}),
    "2+2, NodePorts, external Prometheus, storage class, Always": (
        2, 2, {"node_ports": True, "prometheus_image": None, "external_prometheus": "http://prom.example:9090",
               "storage_class": "fast", "pull_policy": "Always"}),
}


def _objects(validators: int, executors: int, overrides: dict[str, Any], tmp_path: Path
             ) -> tuple[GeneratedTopology, list[m.ManifestFile]]:
    topology = make_topology(validators=validators, executors=executors)
    return topology, m.write_run(topology, spec(**overrides), tmp_path, chain_start_time=1000.0)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for label, (validators, executors, overrides) in TOPOLOGIES.items():
        _, files = _objects(validators, executors, overrides, tmp_path_factory.mktemp("k8s"))
        objects = [obj for file in files for obj in file.objects]
        cuts = m.cut_links([("validator-0", "validator-1")] + ([("validator-0", "executor-0")] if executors else []))
        objects += [m.partition_policy(spec(**overrides), node, cut, 3000) for node, cut in cuts.items()]
        found[label] = objects
    return found


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("label", list(TOPOLOGIES))
def test_every_manifest_validates_against_the_official_schemas(
        generated: dict[str, list[dict[str, Any]]], label: str, version: str) -> None:
    kinds = set()
    for obj in generated[label]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} is not valid Kubernetes {version}: {exc.message} "
                        f"at {'/'.join(map(str, exc.path))}")
        kinds.add(obj["kind"])
    assert {"Namespace", "ConfigMap", "Service", "StatefulSet", "NetworkPolicy"} <= kinds


def test_a_misspelt_field_is_caught_by_the_schemas() -> None:
    """The validation is strict: it would catch a typo in what the runner generates."""
    topology = make_topology(validators=1)
    stateful_set = m.node_manifests(topology, topology.nodes[0], spec(), "x: 1\n")[-1]
    stateful_set["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(stateful_set, K8S_VERSIONS[-1], strict=True)


def test_namespace_names_are_per_run_dns_labels() -> None:
    assert m.namespace_name(RUN_ID) == f"nomos-{RUN_ID}"
    long = "a-very-long-scenario-name-that-goes-on-and-on-20260101-120000-a1b2c3"
    name = m.namespace_name(long)
    assert len(name) <= 63 and m.check_namespace(name) is None and name != m.namespace_name(long + "x")
    assert m.namespace_name("Smoke_2026.01 X") == "nomos-smoke-2026-01-x"
    assert m.check_namespace("Bad_Name") and m.check_namespace("kube-system") and m.check_namespace("x" * 64)


def test_labels_carry_the_run_and_owner_and_annotations_the_exact_values() -> None:
    topology = make_topology(validators=1)
    namespace = m.namespace_manifest(spec())
    assert namespace["metadata"]["labels"][RUN_LABEL] == RUN_ID
    assert namespace["metadata"]["labels"][OWNER_LABEL] == "4242_1767225600.125"  # ':' is no label character
    assert namespace["metadata"]["annotations"] == {RUN_LABEL: RUN_ID, OWNER_LABEL: OWNER}
    assert namespace["metadata"]["labels"][m.HOST_LABEL] == "ci-host"
    for obj in m.node_manifests(topology, topology.nodes[0], spec(), "x: 1\n"):
        labels = obj["metadata"]["labels"]
        assert labels[RUN_LABEL] == RUN_ID and labels[m.NODE_LABEL] == "validator-0"
        assert labels[m.ROLE_LABEL] == "validator" and obj["metadata"]["namespace"] == spec().namespace
    assert len(m.label_value("x" * 100)) <= 63


def test_each_node_has_stable_dns_a_data_volume_its_config_and_the_image(tmp_path: Path) -> None:
    topology, files = _objects(3, 1, {}, tmp_path)
    node = topology.nodes[1]
    objects = {(o["kind"], o["metadata"]["name"]): o for f in files for o in f.objects}
    service = objects[("Service", node.name)]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    sts = objects[("StatefulSet", node.name)]["spec"]
    assert sts["replicas"] == 1 and sts["serviceName"] == node.name
    container = sts["template"]["spec"]["containers"][0]
    assert container["image"] == "nomos-testing-node:0.1.0" and container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["nomos-node", f"/etc/nomos/{node.name}.yaml"]
    assert {"name": "POL_PROOF_DEV_MODE", "value": "true"} in container["env"]
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == m.DATA_VOLUME
    assert {v["mountPath"] for v in container["volumeMounts"]} == {"/etc/nomos", "/data"}
    config = objects[("ConfigMap", m.config_map_name(node.name))]["data"][f"{node.name}.yaml"]
    assert config == (tmp_path / "configs" / f"{node.name}.yaml").read_text()
    assert yaml.safe_load(config)["network"]["advertise"] == f"{node.name}:3000"  # the headless Service's name
    prometheus = yaml.safe_load(objects[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    assert [job["job_name"] for job in prometheus["scrape_configs"]] == [n.name for n in topology.nodes]


def test_external_prometheus_annotates_pods_instead_of_deploying_one(tmp_path: Path) -> None:
    _, files = _objects(2, 0, TOPOLOGIES["2+2, NodePorts, external Prometheus, storage class, Always"][2], tmp_path)
    objects = [o for f in files for o in f.objects]
    assert not [o for o in objects if o["metadata"]["name"].startswith("prometheus")]
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    assert sts["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    node_ports = [o for o in objects if o["kind"] == "Service" and o["spec"].get("type") == "NodePort"]
    assert [o["metadata"]["name"] for o in node_ports] == ["validator-0-api", "validator-1-api"]


def test_files_in_the_run_directory_apply_in_name_order(tmp_path: Path) -> None:
    _, files = _objects(2, 1, {}, tmp_path)
    written = sorted(p.name for p in (tmp_path / "k8s").glob("*.yaml"))
    assert written == sorted(f.name for f in files)
    assert written[:2] == ["00-namespace.yaml", "01-prometheus.yaml"]  # the namespace first, nodes after
    for file in files:  # what is written is what is applied
        assert list(yaml.safe_load_all((tmp_path / "k8s" / file.name).read_text())) == file.objects
    assert "kubectl apply -f" in (tmp_path / "k8s" / written[0]).read_text()


def test_apply_order_puts_what_is_referred_to_first() -> None:
    shuffled = [{"kind": k} for k in ("NetworkPolicy", "StatefulSet", "Service", "ConfigMap", "Namespace")]
    assert [o["kind"] for o in m.apply_order(shuffled)] == ["Namespace", "ConfigMap", "Service", "StatefulSet",
                                                            "NetworkPolicy"]


def test_partition_policy_cuts_p2p_from_the_other_side_only() -> None:
    cuts = m.cut_links([("a", "b"), ("a", "c"), ("d", "b")])
    assert cuts == {"a": {"b", "c"}, "b": {"a", "d"}, "c": {"a"}, "d": {"b"}}
    policy = m.partition_policy(spec(), "a", cuts["a"], 3000)
    assert policy["metadata"]["name"] == "partition-a"
    p2p, others = policy["spec"]["ingress"]
    assert p2p["from"][0]["podSelector"]["matchExpressions"][0] == {"key": m.NODE_LABEL, "operator": "NotIn",
                                                                    "values": ["b", "c"]}
    assert p2p["ports"] == [{"protocol": "TCP", "port": 3000}]
    assert "from" not in others and others["ports"] == [{"protocol": "TCP", "port": 1, "endPort": 2999},
                                                        {"protocol": "TCP", "port": 3001, "endPort": 65535}]

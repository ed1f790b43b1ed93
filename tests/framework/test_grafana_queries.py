"""The dashboards' queries against what real nodes export, through a real Prometheus.

Three real node processes (two validators and a DA executor, nomos_node.devnet) and Debian's `prometheus`
scraping them every second, each target labelled `node=<name>` as every runner labels it. The test drives what
the panels plot — a transfer included in a block, a refused double spend (a 4xx answer), a blob dispersed, stored,
sampled and included — then checks that every metric a panel names is in the nodes' /metrics exposition and
that every query, with `$node` = `.*` and `$__rate_interval` = 30s, succeeds and returns series, one per node
where the legend says `{{node}}`. Only the panels of events a healthy run never has (blocks and DA shares
rejected, transactions dropped) may be empty; their queries must still run.

No Grafana runs here (no image can be obtained on this machine): the compose stack's Grafana service is checked
with `docker compose config` in tests/compose/test_compose_grafana.py.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from nomos_da import params as da_params
from nomos_node.da.service import TEST_SIGNER_PK, DaStartError, load_kzg_params
from nomos_node.devnet import LocalNetwork, NodeProcess, http, make_genesis, ready, wait_until
from tests.framework.grafana_support import exposed_names, metric_names, queries
from tests.node.txkit import ZERO, genesis_note_ids, pk, transfer, tx_hash, wallet_keys

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NAMES = ("validator-0", "validator-1", "executor-0")
ROLES = ("validator", "validator", "executor")
DA_SETTINGS = {"dispersal_timeout": 2.0, "retry_limit": 1, "retry_cooldown": 0.3, "sampling_timeout": 2.0}
WALLET_NOTES = [{"value": 1000, "pk": pk(0)}]
SCRAPE_INTERVAL = "1s"
AFTER_EVENTS_S = 3.0  # three scrapes: every new series has the two samples a rate needs
# Counters of what a healthy network never does: their panels stay empty here (the metric is still exported).
NEVER_IN_A_HEALTHY_RUN = {
    "consensus_blocks_rejected_total": "no node sends invalid blocks",
    "da_shares_rejected_total": "every dispersed share is valid",
    "mempool_dropped_total": "no reorg invalidates a pending transaction",
}
PROMETHEUS_OWN = {"up"}  # series Prometheus itself adds per target


@dataclass(frozen=True)
class Observed:
    network: LocalNetwork
    prometheus_url: str
    expositions: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _params_env(root: Path) -> dict[str, str]:
    try:
        load_kzg_params()
        return {}
    except DaStartError:  # a checkout without `nomos-testing setup kzg`: generated for this test
        path = root / da_params.PARAMS_FILENAME
        da_params.generate_params(path)
        return {"NOMOS_KZGRS_PARAMS_PATH": str(path)}


def _scrape_config(network: LocalNetwork) -> dict[str, Any]:
    """As the runners write it: one job per node, its series labelled `node` and `role`."""
    return {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [{"job_name": name, "static_configs": [
                {"targets": [node.api_url.removeprefix("http://")], "labels": {"node": name, "role": role}}]}
                for name, role, node in zip(NAMES, ROLES, network.nodes, strict=True)]}


def _query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    status, body = http("GET", f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    answer = body if isinstance(body, dict) else json.loads(body)
    assert status == 200 and answer["status"] == "success", f"{expr}: HTTP {status} {answer}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _drive(network: LocalNetwork) -> None:
    """A transfer into a block, a double spend refused, a blob dispersed and included (sampled on the way)."""
    validator, executor = network.nodes[0], network.nodes[2]
    [note] = genesis_note_ids(WALLET_NOTES)
    valid = transfer([(note, wallet_keys(0))], [(600, pk(1)), (400, pk(0))])
    assert http("POST", validator.api_url + "/mempool/add/tx", json.dumps(valid).encode())[0] == 200
    double_spend = transfer([(note, wallet_keys(0))], [(1000, pk(2))])  # the same note, still pending
    assert http("POST", validator.api_url + "/mempool/add/tx", json.dumps(double_spend).encode())[0] == 409
    blob = {"channel_id": "d1" * 32, "parent_msg_id": ZERO, "signer": TEST_SIGNER_PK, "data": bytes(range(124)).hex()}
    status, dispersed = http("POST", executor.api_url + "/disperse-data", json.dumps(blob).encode(), timeout=30)
    assert status == 200, dispersed
    for digest in (tx_hash(valid), dispersed["tx_hash"]):
        wait_until(lambda digest=digest: _in_block(validator, digest), 30, f"transaction {digest[:12]} in a block")


def _in_block(node: NodeProcess, digest: str) -> bool:
    [status] = node.post("/mantle/status", [digest])
    return isinstance(status, dict) and "InBlock" in status


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed: apt-get install -y prometheus (.ci/run installs it)")
    root = tmp_path_factory.mktemp("grafana-queries")
    genesis = make_genesis(3, start_in=1.0, slot=0.5)
    genesis["wallet_notes"] = WALLET_NOTES
    with LocalNetwork(root / "net", 3, genesis=genesis, roles=list(ROLES), extra_env=_params_env(root)) as network:
        network.enable_da(num_subnets=2, dispersal_factor=1, members=[0, 1], **DA_SETTINGS)
        config = root / "prometheus.yml"
        config.write_text(yaml.safe_dump(_scrape_config(network), sort_keys=False))
        port = _free_port()
        prometheus = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("wb"))
        try:
            network.start()
            for node in network.nodes:
                wait_until(lambda node=node: ready(node), 20, f"{NAMES[node.index]}'s API")
            wait_until(lambda: all(v["outbound"] + v["inbound"] == 1
                                   for v in network.nodes[2].get("/da/balancer-stats").values()),
                       20, "the executor's connections to both subnetworks")
            url = f"http://127.0.0.1:{port}"
            # every target scraped before the events, and a few samples after them for the rates
            wait_until(lambda: len(_query(url, "up == 1")) == len(NAMES), 20, "Prometheus scraping every node")
            _drive(network)
            time.sleep(AFTER_EVENTS_S)
            expositions = {name: http("GET", node.api_url + "/metrics")[1]
                           for name, node in zip(NAMES, network.nodes, strict=True)}
            yield Observed(network, url, expositions)
        finally:
            prometheus.terminate()
            prometheus.wait(10)


def test_every_metric_a_panel_names_is_exported(observed: Observed) -> None:
    exported = set().union(*(exposed_names(text) for text in observed.expositions.values()))
    missing = {f"{query.where()}: {name}" for query in queries() for name in metric_names(query.expr)
               if name not in exported | PROMETHEUS_OWN}
    assert not missing, "dashboard metrics the nodes do not export:\n" + "\n".join(sorted(missing))


def test_every_query_returns_series_per_node(observed: Observed) -> None:
    empty, unlabelled = [], []
    for query in queries():
        result = _query(observed.prometheus_url, query.runnable())  # a query Prometheus refuses fails here
        if not result:
            if not metric_names(query.expr) <= set(NEVER_IN_A_HEALTHY_RUN):
                empty.append(f"{query.where()}: {query.runnable()}")
            continue
        if "{{node}}" in query.legend:
            nodes = {series["metric"].get("node") for series in result}
            if not nodes <= set(NAMES) or None in nodes:
                unlabelled.append(f"{query.where()}: series labelled {sorted(map(str, nodes))}")
    assert not empty, "queries with no series although the nodes did what they plot:\n" + "\n".join(empty)
    assert not unlabelled, "legends by {{node}} need a node label:\n" + "\n".join(unlabelled)


def test_per_node_panels_show_every_node(observed: Observed) -> None:
    """The `node` variable's query lists every node, and the tip panel draws one line per node."""
    listed = {series["metric"]["node"] for series in _query(observed.prometheus_url, "consensus_tip_height")}
    assert listed == set(NAMES)
    tip = next(q for q in queries() if q.panel == "Tip height per node")
    heights = {s["metric"]["node"]: float(s["value"][1]) for s in _query(observed.prometheus_url, tip.runnable())}
    assert set(heights) == set(NAMES) and min(heights.values()) >= 1, heights
    included = next(q for q in queries() if q.panel == "Transactions included per second")
    assert any(float(s["value"][1]) > 0 for s in _query(observed.prometheus_url, included.runnable()))

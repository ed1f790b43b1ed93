"""The shipped Grafana dashboards are well-formed for Grafana's file provisioning (schema 39): unique uids,
the provisioned datasource uid on every panel and target, unique panel ids, a grid that fits and does not
overlap, a `node` template variable over the nodes' `node` label, and every query filtered by it. The
provisioning files the runners write point Grafana at the same uid and at the dashboards' copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nomos_testing.runners.shared.grafana import (
    DATASOURCE_UID,
    HOME_DASHBOARD,
    dashboard_files,
    dashboards_dir,
    write_provisioning,
)
from tests.framework.grafana_support import dashboards, panels, queries

GRID_WIDTH = 24
NODE_VARIABLE_QUERY = "label_values(consensus_tip_height, node)"
# Panels that aggregate the nodes into one line (the rest draw one line per node: `{{node}}` in the legend).
AGGREGATED = {"Tip spread across nodes", "Epoch"}


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict[str, Any]]:
    found = dashboards()
    assert set(found) == {"nomos-consensus.json", "nomos-mempool.json", "nomos-da.json", "nomos-process.json"}
    return found


def test_dashboards_have_unique_uids_and_grafana_schema(shipped: dict[str, dict[str, Any]]) -> None:
    uids = [board["uid"] for board in shipped.values()]
    assert len(set(uids)) == len(uids)
    assert HOME_DASHBOARD in shipped
    for name, board in shipped.items():
        assert name == f"{board['uid']}.json"
        assert board["schemaVersion"] == 39, name
        assert board["id"] is None, f"{name}: a provisioned dashboard has no database id"
        assert board["title"] and "nomos" in board["tags"], name


def test_node_variable_lists_the_nodes_label(shipped: dict[str, dict[str, Any]]) -> None:
    for name, board in shipped.items():
        [variable] = [v for v in board["templating"]["list"] if v["name"] == "node"]
        assert variable["type"] == "query", name
        assert variable["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, name
        assert variable["definition"] == variable["query"]["query"] == NODE_VARIABLE_QUERY, name
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*", name


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def test_every_panel_is_placed_and_queries_the_provisioned_datasource(shipped: dict[str, dict[str, Any]]) -> None:
    for name, board in shipped.items():
        placed = list(panels(board))
        ids = [panel["id"] for panel in placed]
        assert len(set(ids)) == len(ids), f"{name}: panel ids repeat"
        for panel in placed:
            where = f"{name} / {panel['title']!r}"
            grid = panel["gridPos"]
            assert all(isinstance(grid[key], int) for key in ("x", "y", "w", "h")), where
            assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_WIDTH, where
            if panel["type"] == "row":
                assert "targets" not in panel, where
                continue
            assert panel["type"] in {"timeseries", "stat"}, where
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, where
            assert panel["description"], f"{where}: say what the panel shows"
            targets = panel["targets"]
            assert targets, f"{where}: no query"
            assert len({t["refId"] for t in targets}) == len(targets), f"{where}: refIds repeat"
            for target in targets:
                assert target["datasource"]["uid"] == DATASOURCE_UID, where
                assert target["expr"].strip(), where
                assert 'node=~"$node"' in target["expr"], f"{where}: every query follows the node selection"
                assert (panel["title"] in AGGREGATED) != ("{{node}}" in target["legendFormat"]), where
        for i, a in enumerate(placed):
            for b in placed[i + 1:]:
                assert not _overlap(a["gridPos"], b["gridPos"]), f"{name}: {a['title']!r} overlaps {b['title']!r}"


def test_only_known_template_variables_are_used() -> None:
    for query in queries():
        assert "$" not in query.runnable(), f"{query.where()}: {query.expr}"


def test_provisioning_points_grafana_at_the_prometheus_and_the_dashboards(tmp_path: Path) -> None:
    target = write_provisioning(tmp_path / "grafana", "http://prometheus:9090", "2s", "/etc/grafana/nomos-dashboards")
    datasources = yaml.safe_load((target / "provisioning" / "datasources" / "nomos.yaml").read_text())
    [source] = datasources["datasources"]
    assert (source["uid"], source["type"], source["url"]) == (DATASOURCE_UID, "prometheus", "http://prometheus:9090")
    assert source["jsonData"]["timeInterval"] == "2s"  # $__rate_interval then spans the real scrape interval
    [provider] = yaml.safe_load((target / "provisioning" / "dashboards" / "nomos.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/grafana/nomos-dashboards"
    copies = sorted(path.name for path in (target / "dashboards").iterdir())
    assert copies == [path.name for path in dashboard_files()]
    assert all((target / "dashboards" / name).read_bytes() == (dashboards_dir() / name).read_bytes()
               for name in copies)

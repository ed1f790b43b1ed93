"""A node that joins a running host cluster (`NodeControl.join`): like the deployer does for every node at
start — the next loopback address of the run's block with its sockets reserved by this process, config and
marked data directory written, the process spawned with its sockets handed over — then it is one more
process of the cluster (endpoints, run-state, logs, teardown) and `join` returns once its API answers."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.base import NodeEndpoint
from nomos_testing.runners.host.markers import mark_data_dir, marker_environment
from nomos_testing.runners.host.process import NodeProcess, tail
from nomos_testing.runners.host.sockets import NodeSockets
from nomos_testing.runners.shared.joining import wait_api_answers
from nomos_testing.runners.shared.owner import owner_token
from nomos_testing.topology.join import plan_join, with_joined

if TYPE_CHECKING:
    from nomos_testing.runners.host.cluster import HostCluster
    from nomos_testing.topology.model import Role


async def join_node(cluster: HostCluster, role: Role, peers: Sequence[str] | None,
                    in_genesis: bool) -> tuple[NodeEndpoint, dict[str, Any]]:
    topology, chain_start = cluster.topology, cluster.chain_start_time
    if topology is None or chain_start is None or cluster.block is None:
        raise NodeControlError(f"node control: run {cluster.run_id} was attached from its run-state file; only "
                               "the process that deployed it can add nodes",
                               "join nodes from the scenario run (a workload, or the run core's deployed())")
    present = list(cluster.processes)
    running = [name for name in present if cluster.intent.should_run(name)]
    joining = plan_join(topology, role, peers, in_genesis, present, running)
    node = joining.node
    adapter = topology.adapter
    found = adapter.resolve_binary(role)
    if found.path is None:
        raise NodeControlError(f"node control: cannot join a {role.value}: {found.source}", found.remedy)
    held = {name: p.sockets for name, p in cluster.processes.items() if p.sockets is not None}
    missing = [peer for peer in joining.peers if peer not in held]
    if missing:
        raise NodeControlError(f"node control: the addresses of {', '.join(missing)} are not known here",
                               "join from the process that deployed the run")
    sockets = NodeSockets.reserve(cluster.block.address(len(cluster.processes)))
    try:
        topology = with_joined(topology, node, joining.peers)
        addresses = {name: s.addresses() for name, s in held.items()} | {node.name: sockets.addresses()}
        run_dir = cluster.run_dir
        data_dir = run_dir / "data" / node.name
        mark_data_dir(data_dir, cluster.run_id)
        config_path = run_dir / "configs" / adapter.config_file_name(node)
        config_path.write_text(adapter.render_config(topology, node, addresses, chain_start, str(data_dir)),
                               encoding="utf-8")
        process = NodeProcess(
            name=node.name, argv=adapter.command(str(found.path), str(config_path)), config_path=config_path,
            data_dir=data_dir, log_path=run_dir / "logs" / adapter.log_file_name(node),
            env={**adapter.environment(), **adapter.log_dir_environment(run_dir / "logs"),
                 **marker_environment(cluster.run_id, run_dir, owner_token(), node.name)},
            sockets=sockets, handover=adapter.socket_handover(sockets.by_listener()))
        process.spawn()
    except (OSError, NodeControlError) as exc:
        with contextlib.suppress(OSError):
            sockets.close()
        if isinstance(exc, NodeControlError):
            raise
        raise NodeControlError(f"node control: cannot start the joined node {node.name}: {exc}",
                               "check the node binary, free disk space and open-file limits") from exc
    own = sockets.addresses()
    endpoint = NodeEndpoint(node.name, node.role, node.index, f"http://{own.api_listen}",
                            f"http://{own.testing_listen}")
    cluster.topology = topology
    cluster.processes[node.name] = process
    cluster.log_names[node.name] = adapter.log_file_name(node)
    cluster.nodes.append(endpoint)
    cluster.save_state()  # the process is known to `down` / `clean` even if its API never answers

    async def exited() -> str | None:
        if process.alive():
            return None
        return f"exited with code {process.returncode()}; last lines of {process.log_path}:\n{tail(process.log_path)}"

    api_s = await wait_api_answers(adapter, endpoint, exited)
    return endpoint, {"dials": list(joining.peers), "pid": process.pid, "address": sockets.host,
                      "api_answered_s": api_s, "via": "process spawned with reserved sockets"}

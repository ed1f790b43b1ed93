"""The network fault engine every runner shares: iptables rules and a delay proxy, acting in the namespace of
each node (the host's, where every node has its own loopback address; or a container's).

For a link (a, b) the rules about traffic from a live in a's namespace (`-s a -d b`), those about traffic from
b in b's; on the host both are the one host namespace.

- partition: DROP each direction + `ss -K` of the connections already open between them (the nodes notice at
  once, as a keepalive would, instead of writing into a void).
- loss: `-m statistic --mode random --probability p -j DROP`, each direction on its own.
- delay: nat OUTPUT DNAT of new TCP connections to a `DelayProxy` in the dialling node's namespace; applying
  resets the pair's open connections (they reconnect through the proxy), removing resets the proxied ones.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nomos_testing.runners.shared.netfaults import iptables
from nomos_testing.runners.shared.netfaults.base import Applied, NetworkFaultError, NetworkFaults
from nomos_testing.runners.shared.netfaults.namespace import Namespace
from nomos_testing.runners.shared.netfaults.proxy import DelayProxy
from nomos_testing.runners.shared.owner import owner_token

FAULT_KINDS = frozenset({"partition", "delay", "loss"})
ROOT_REMEDY = "run as root (network faults change iptables rules), e.g. in CI or with sudo"


def missing_requirements(namespaces: bool = False) -> list[str]:
    """Why network faults cannot work in this process (empty when they can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not running as root (iptables needs CAP_NET_ADMIN)")
    tools = ["iptables", "iptables-save", "iptables-restore", "ss"] + (["nsenter"] if namespaces else [])
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if absent:
        missing.append(f"{', '.join(absent)} not found on PATH (Debian: apt-get install iptables iproute2"
                       f"{' util-linux' if 'nsenter' in absent else ''})")
    if not missing:
        try:
            probe = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True, timeout=10,
                                   check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            missing.append(f"iptables does not run: {exc}")
        else:
            if probe.returncode != 0:
                missing.append(f"iptables does not work here: {probe.stderr.strip()[:200]}")
    return missing


# Per process, and per PATH and user, which decide the answer (a test may run with another PATH).
_REQUIREMENTS: dict[tuple[bool, str, int], list[str]] = {}


def unavailable_capabilities(namespaces: bool = False) -> dict[str, str]:
    """partition / delay / loss -> why they are unavailable here (cached per process)."""
    key = (namespaces, os.environ.get("PATH", ""), os.geteuid())
    if key not in _REQUIREMENTS:
        _REQUIREMENTS[key] = missing_requirements(namespaces)
    missing = _REQUIREMENTS[key]
    return {kind: "; ".join(missing) for kind in sorted(FAULT_KINDS)} if missing else {}


@dataclass(frozen=True)
class Endpoint:
    """Where a node is on the network: its namespace and its address there."""

    ns: Namespace
    address: str


# A node's endpoint now, or None when it has none (a stopped container): the links involving it get their
# rules once it starts again (`node_restarted`).
Resolver = Callable[[str], Awaitable[Endpoint | None]]


@dataclass
class _Fault:
    kind: str
    links: list[tuple[str, str]]
    params: dict[str, Any]
    build: Callable[[str, _Fault, dict[str, Endpoint]], Awaitable[None]]
    rules: dict[Namespace, list[iptables.Rule]] = field(default_factory=dict)
    proxies: list[DelayProxy] = field(default_factory=list)

    def involves(self, name: str) -> bool:
        return any(name in link for link in self.links)


class IptablesNetworkFaults(NetworkFaults):
    """`where` says in words where the rules live (recorded in every mechanism string)."""

    def __init__(self, run_id: str, resolve: Resolver, where: str, namespaces: bool = False,
                 always_clean: Iterable[Namespace] = ()) -> None:
        self.run_id = run_id
        self.chains = iptables.Chains.of_run(run_id)
        self.resolve = resolve
        self.where = where
        self.namespaces = namespaces  # nodes live in other namespaces than this process (nsenter needed)
        self._owner = owner_token()
        self._ready: set[Namespace] = set()  # namespaces where the run's chains exist
        self._touched: set[Namespace] = set(always_clean)
        self._faults: dict[str, _Fault] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def capabilities(self) -> frozenset[str]:
        return FAULT_KINDS - set(unavailable_capabilities(self.namespaces))

    # Faults ----------------------------------------------------------------------------------------

    async def partition(self, fault_id: str, links: list[tuple[str, str]]) -> Applied:
        return await self._apply(fault_id, "partition", links, {}, self._drop_rules)

    async def loss(self, fault_id: str, a: str, b: str, percent: float) -> Applied:
        return await self._apply(fault_id, "loss", [(a, b)], {"percent": percent}, self._drop_rules)

    async def delay(self, fault_id: str, a: str, b: str, ms: float, jitter_ms: float) -> Applied:
        return await self._apply(fault_id, "delay", [(a, b)], {"ms": ms, "jitter_ms": jitter_ms}, self._dnat_rules)

    async def remove(self, fault_id: str) -> Applied:
        async with self._lock:
            fault = self._faults.pop(fault_id, None)
            if fault is None:
                removed = await self._remove_unknown(fault_id)
                return Applied(f"iptables rules tagged {fault_id} deleted ({self.where})" if removed else "none",
                               {"rules": removed})
            reset = await self._uninstall(fault_id, fault)
            detail: dict[str, Any] = {"rules": sum(len(r) for r in fault.rules.values())}
            if fault.kind == "delay":
                detail["connections_reset"] = reset
            return Applied(self._mechanism(fault, removing=True), detail)

    async def node_restarted(self, name: str) -> None:
        """Re-install every fault involving `name` against its current namespace and address (a recreated
        container may have a new process, so a new namespace, and a new IP)."""
        async with self._lock:
            for fault_id, fault in list(self._faults.items()):
                if fault.involves(name):
                    await self._uninstall(fault_id, fault, tolerant=True)
                    await self._install(fault_id, fault)

    async def close(self) -> None:
        """Stop every proxy and remove the run's chains from every namespace this engine touched."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            for fault in self._faults.values():
                for proxy in fault.proxies:
                    await proxy.close()
            self._faults.clear()
            # Nothing installed, nothing to remove: no iptables call (it may wait for the xtables lock).
            if not (self._touched | self._ready) or unavailable_capabilities(self.namespaces):
                return
            errors = []
            for ns in self._touched | self._ready:
                try:
                    await iptables.remove_run(ns, self.chains)
                except NetworkFaultError as exc:
                    if ns.is_host or os.path.exists(ns.path or ""):
                        errors.append(str(exc))  # a namespace that is gone took its rules with it
            self._ready.clear()
            if errors:
                raise NetworkFaultError("; ".join(errors), "run `nomos-testing clean` to remove leftover chains")

    def in_force(self) -> list[str]:
        return list(self._faults)

    # Mechanics -------------------------------------------------------------------------------------

    async def _apply(self, fault_id: str, kind: str, links: list[tuple[str, str]], params: dict[str, Any],
                     rules: Callable[[str, _Fault, dict[str, Endpoint]], Awaitable[None]]) -> Applied:
        async with self._lock:
            if fault_id in self._faults:
                return Applied(self._mechanism(self._faults[fault_id]), {})
            if self._closed:
                raise NetworkFaultError("the network fault engine is closed", "apply faults while the run is active")
            fault = _Fault(kind, list(links), dict(params), rules)
            try:
                await self._install(fault_id, fault)
            except BaseException:
                await self._uninstall(fault_id, fault, tolerant=True)
                raise
            self._faults[fault_id] = fault
            detail: dict[str, Any] = {"rules": sum(len(r) for r in fault.rules.values())}
            if kind != "loss":
                detail["connections_cut"] = await self._cut(fault)
            if fault.proxies:
                detail["proxies"] = [f"{p.ns.label}:{p.target}" for p in fault.proxies]
            return Applied(self._mechanism(fault), detail)

    async def _endpoints(self, fault: _Fault) -> dict[str, Endpoint]:
        names = sorted({name for link in fault.links for name in link})
        found = await asyncio.gather(*(self.resolve(name) for name in names))
        return {name: endpoint for name, endpoint in zip(names, found, strict=True) if endpoint is not None}

    @staticmethod
    def _directions(fault: _Fault, where: dict[str, Endpoint]) -> list[tuple[Endpoint, Endpoint]]:
        """(source, destination) of each direction of each link whose two nodes have an endpoint now."""
        return [(where[src], where[dst]) for a, b in fault.links if a in where and b in where
                for src, dst in ((a, b), (b, a))]

    async def _install(self, fault_id: str, fault: _Fault) -> None:
        where = await self._endpoints(fault)
        fault.rules = {}
        await fault.build(fault_id, fault, where)
        await asyncio.gather(*(self._add(ns, rules) for ns, rules in fault.rules.items()))

    async def _add(self, ns: Namespace, rules: list[iptables.Rule]) -> None:
        self._touched.add(ns)
        if ns not in self._ready:
            await iptables.ensure_chains(ns, self.chains, self.run_id, self._owner)
            self._ready.add(ns)
        await iptables.add(ns, self.chains, rules)

    async def _uninstall(self, fault_id: str, fault: _Fault, tolerant: bool = False) -> int:
        """Delete the fault's rules, then stop its proxies (resetting what they carried: with the DNAT rules
        gone the nodes reconnect directly). Returns how many proxied connections were reset."""

        async def one(ns: Namespace, rules: list[iptables.Rule]) -> None:
            try:
                await iptables.delete(ns, self.chains, rules)
            except NetworkFaultError:
                if not tolerant and (ns.is_host or os.path.exists(ns.path or "")):
                    # some rule was gone already (removed by another process): delete what is left by tag
                    await iptables.delete_tagged(ns, self.chains, fault_id)

        await asyncio.gather(*(one(ns, rules) for ns, rules in fault.rules.items()))
        reset = 0
        for proxy in fault.proxies:
            reset += proxy.open_links()
            await proxy.close()
        fault.proxies = []
        return reset

    async def _remove_unknown(self, fault_id: str) -> int:
        """A fault this process did not install (e.g. applied by another process): delete by its tag."""
        if unavailable_capabilities(self.namespaces):
            return 0
        counts = await asyncio.gather(*(iptables.delete_tagged(ns, self.chains, fault_id)
                                        for ns in self._touched | self._ready), return_exceptions=True)
        return sum(count for count in counts if isinstance(count, int))

    async def _drop_rules(self, fault_id: str, fault: _Fault, where: dict[str, Endpoint]) -> None:
        match = ""
        if fault.kind == "loss":
            match = f"-m statistic --mode random --probability {fault.params['percent'] / 100:.6f} "
        for src, dst in self._directions(fault, where):
            spec = f"-s {src.address}/32 -d {dst.address}/32 {match}-j DROP"
            fault.rules.setdefault(src.ns, []).append(iptables.Rule("filter", iptables.tagged(spec, fault_id)))

    async def _dnat_rules(self, fault_id: str, fault: _Fault, where: dict[str, Endpoint]) -> None:
        proxies: dict[Namespace, DelayProxy] = {}
        rng = random.Random(f"{self.run_id}/{fault_id}")
        for src, dst in self._directions(fault, where):
            if src.ns not in proxies:
                proxy = DelayProxy(src.ns, src.address, fault.params["ms"], fault.params["jitter_ms"],
                                   iptables.MARK, rng)
                await proxy.start()
                proxies[src.ns] = proxy
                fault.proxies.append(proxy)
            spec = (f"-s {src.address}/32 -d {dst.address}/32 -p tcp -m mark ! --mark {iptables.MARK:#x} "
                    f"-j DNAT --to-destination {proxies[src.ns].target}")
            fault.rules.setdefault(src.ns, []).append(iptables.Rule("nat", iptables.tagged(spec, fault_id)))

    async def _cut(self, fault: _Fault) -> int:
        """Destroy the open connections between the fault's nodes; returns how many sockets."""
        terms: dict[Namespace, list[str]] = {}
        for src, dst in self._directions(fault, await self._endpoints(fault)):
            terms.setdefault(src.ns, []).append(f"( src {src.address} and dst {dst.address} )")
        results = await asyncio.gather(*(ns.run(["ss", "-K", "-t", "-n", "-H", " or ".join(parts)])
                                         for ns, parts in terms.items()))
        return sum(len([line for line in result.stdout.splitlines() if line.strip()]) for result in results)

    def _mechanism(self, fault: _Fault, removing: bool = False) -> str:
        if fault.kind == "partition":
            text = "iptables DROP both ways; open connections cut with ss -K"
        elif fault.kind == "loss":
            text = f"iptables statistic DROP of {fault.params['percent']:g} % each way"
        else:
            text = (f"TCP proxy delaying each chunk {fault.params['ms']:g} ms ± {fault.params['jitter_ms']:g} ms "
                    "(iptables nat DNAT of new connections); open connections reset")
        if removing:
            text = "rules deleted" + ("; proxied connections reset" if fault.kind == "delay" else "") + \
                   f" ({text})"
        return f"{text} ({self.where})"

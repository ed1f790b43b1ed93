"""The iptables side of the fault engine: one filter chain and one nat chain per run and namespace, jumped from
OUTPUT, named from the run id so that another process (`down`, `clean`) can remove them; the jump carries the
run id and the owner token of the process that installed it, so a sweep finds the chains of dead runs.

Every rule carries its fault id as a comment: a fault is removed by its rules, also by a process that did not
install it. Rules are added and removed in one `iptables-restore --noflush` batch per namespace and table.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

from nomos_testing.runners.shared.netfaults.namespace import Namespace
from nomos_testing.runners.shared.owner import owner_alive

FILTER_PREFIX = "NTF-"
NAT_PREFIX = "NTN-"
JUMP_TAG = "nomos-testing"
_JUMP_COMMENT = re.compile(JUMP_TAG + r"_run=(?P<run>.*)_owner=(?P<owner>[0-9:.]+)")
MARK = 0x4E54  # set by the delay proxy on its onward connections, which the DNAT rules skip


@dataclass(frozen=True)
class Chains:
    filter: str
    nat: str

    @classmethod
    def of_run(cls, run_id: str) -> Chains:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:12]
        return cls(FILTER_PREFIX + digest, NAT_PREFIX + digest)

    def of_table(self, table: str) -> str:
        return self.filter if table == "filter" else self.nat


@dataclass(frozen=True)
class Rule:
    table: str   # filter | nat
    spec: str    # the rule without the chain, e.g. "-s 127.1.1.2/32 -d 127.1.1.3/32 -j DROP"


def safe_comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:=/+-]", "_", text)[:200]


def tagged(spec: str, fault_id: str) -> str:
    """`spec` with the fault id as a comment match, before its target."""
    head, sep, target = spec.partition(" -j ")
    return f"{head} -m comment --comment {safe_comment(fault_id)}{sep}{target}"


def _batch(lines_by_table: dict[str, list[str]]) -> str:
    text = []
    for table in ("filter", "nat"):
        if lines_by_table.get(table):
            text += [f"*{table}", *lines_by_table[table], "COMMIT"]
    return "\n".join(text) + "\n"


async def restore(ns: Namespace, lines_by_table: dict[str, list[str]]) -> None:
    if any(lines_by_table.values()):
        await ns.run(["iptables-restore", "-w", "--noflush"], stdin=_batch(lines_by_table))


async def save(ns: Namespace) -> str:
    return (await ns.run(["iptables-save"])).stdout


async def ensure_chains(ns: Namespace, chains: Chains, run_id: str, owner: str) -> None:
    """Create the run's chains in `ns` and jump to them first thing in OUTPUT (no-op when they exist)."""
    existing = await save(ns)
    comment = safe_comment(f"{JUMP_TAG} run={run_id} owner={owner}")
    lines: dict[str, list[str]] = {}
    for table in ("filter", "nat"):
        chain = chains.of_table(table)
        if f":{chain} " not in existing:
            lines[table] = [f":{chain} - [0:0]", f"-I OUTPUT 1 -m comment --comment {comment} -j {chain}"]
    await restore(ns, lines)


async def add(ns: Namespace, chains: Chains, rules: list[Rule]) -> None:
    lines: dict[str, list[str]] = {}
    for rule in rules:
        lines.setdefault(rule.table, []).append(f"-A {chains.of_table(rule.table)} {rule.spec}")
    await restore(ns, lines)


async def delete(ns: Namespace, chains: Chains, rules: list[Rule]) -> None:
    lines: dict[str, list[str]] = {}
    for rule in rules:
        lines.setdefault(rule.table, []).append(f"-D {chains.of_table(rule.table)} {rule.spec}")
    await restore(ns, lines)


def _tables(saved: str) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in saved.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), [])
        elif current is not None and line and not line.startswith("#") and line != "COMMIT":
            current.append(line)
    return tables


def _comment(line: str) -> str | None:
    words = shlex.split(line)
    for i, word in enumerate(words[:-1]):
        if word == "--comment":
            return words[i + 1]
    return None


async def delete_tagged(ns: Namespace, chains: Chains, fault_id: str) -> int:
    """Delete every rule of the run's chains in `ns` tagged with `fault_id`; returns how many."""
    tables = _tables(await save(ns))
    lines: dict[str, list[str]] = {}
    wanted = safe_comment(fault_id)
    for table in ("filter", "nat"):
        prefix = f"-A {chains.of_table(table)} "
        for line in tables.get(table, []):
            if line.startswith(prefix) and _comment(line) == wanted:
                lines.setdefault(table, []).append("-D" + line[2:])
    await restore(ns, lines)
    return sum(len(found) for found in lines.values())


@dataclass(frozen=True)
class Installed:
    """Chains of one run found in a namespace, with what their OUTPUT jump says."""

    table: str
    chain: str
    jump: str | None        # the OUTPUT rule jumping to it (None: no jump)
    run_id: str
    owner: str

    def describe(self) -> str:
        return f"iptables chain {self.chain} ({self.table}, run {self.run_id or '?'})"


def installed(saved: str) -> list[Installed]:
    """Every chain of any run in an iptables-save output."""
    found = []
    for table, lines in _tables(saved).items():
        chains = [line[1:].split()[0] for line in lines
                  if line.startswith((":" + FILTER_PREFIX, ":" + NAT_PREFIX))]
        jumps = {}
        for line in lines:
            words = line.split()
            if line.startswith("-A OUTPUT ") and "-j" in words and words[words.index("-j") + 1] in chains:
                jumps[words[words.index("-j") + 1]] = line
        for chain in chains:
            jump = jumps.get(chain)
            tag = _JUMP_COMMENT.fullmatch(_comment(jump) or "") if jump else None
            found.append(Installed(table, chain, jump, tag["run"] if tag else "", tag["owner"] if tag else ""))
    return found


def _removal_lines(which: list[Installed]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for item in which:
        table = lines.setdefault(item.table, [])
        if item.jump is not None:
            table.insert(0, "-D" + item.jump[2:])  # every jump goes before any chain is deleted
        table += [f"-F {item.chain}", f"-X {item.chain}"]
    return lines


def removal_batch(which: list[Installed]) -> str:
    """The iptables-restore input removing these chains and their jumps."""
    return _batch(_removal_lines(which))


async def remove_chains(ns: Namespace, which: list[Installed]) -> None:
    await restore(ns, _removal_lines(which))


async def remove_run(ns: Namespace, chains: Chains) -> list[Installed]:
    """Remove the run's chains (and their jumps) from `ns`; returns what was removed."""
    found = [item for item in installed(await save(ns)) if item.chain in (chains.filter, chains.nat)]
    await remove_chains(ns, found)
    return found


async def sweep(ns: Namespace, dry_run: bool = False) -> list[Installed]:
    """Remove the chains of runs whose owner process is gone (or that no jump uses)."""
    found = [item for item in installed(await save(ns)) if item.jump is None or not owner_alive(item.owner)]
    if not dry_run:
        await remove_chains(ns, found)
    return found


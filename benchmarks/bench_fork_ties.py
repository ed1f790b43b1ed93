"""Equal-height tie rule (issue 14 item 1): do connected nodes split deeper than k with the specification's
keep-current rule at the slot lengths scenarios use?

    python -m benchmarks fork_ties                                   # 0.5 s/k=3, 1 s/k=10, 2 s/k=10; 3 runs of 60 s
    python -m benchmarks fork_ties --runs 5 --window 90 --cases 0.5:3
    python -m benchmarks fork_ties --rules keep_current

Each run: 4 real node processes (dev-mode PoL, like the scenarios' 3 validators + 1 executor) on a star,
f = 0.9, `consensus.tie_break` set to the rule. Every `--sample` seconds each node's whole chain is read over
the API; for every pair of nodes the fork depth is the smaller of the two reorgs that would reunite them
(blocks above their common ancestor on the shorter-rolled branch). After the window and a settle time of
3 slots + 2 s the run counts as a permanent split when some pair is still apart by more than k.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nomos_node.devnet import LocalNetwork, NodeProcess, ready, wait_until

N_NODES = 4
F = 0.9
DEFAULT_CASES = "0.5:3,1:10,2:10"  # slot seconds : k, as scenarios/*.toml use them
RULES = ("keep_current", "lower_vrf")


@dataclass
class CaseResult:
    slot: float
    k: int
    rule: str
    runs: int = 0
    max_depth: int = 0
    splits: int = 0
    heights: list[int] = field(default_factory=list)
    reorgs_below_lib: int = 0


def chain_of(node: NodeProcess, genesis_id: str) -> list[str]:
    """The node's chain, genesis first (index = height)."""
    tip = node.info()["tip"]
    return list(reversed(node.get(f"/cryptarchia/headers?from={tip}&to={genesis_id}")))


def genesis_id_of(node: NodeProcess) -> str:
    found = re.search(r"genesis=([0-9a-f]{64})", node.log_text())
    if found is None:
        raise RuntimeError(f"node {node.index}: no start line with the genesis id in its log")
    return found.group(1)


def pair_depth(a: list[str], b: list[str]) -> int:
    """Blocks the less-diverged of two chains must roll back to join the other (0 when one extends the other)."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return min(len(a) - common, len(b) - common)


def max_pair_depth(chains: list[list[str]]) -> int:
    return max((pair_depth(a, b) for a, b in itertools.combinations(chains, 2)), default=0)


def one_run(root: Path, slot: float, k: int, rule: str, window: float, sample: float, salt: int) -> tuple[int, bool,
                                                                                                        int, int]:
    """(max fork depth seen, permanent split, final height, fork_below_lib log lines) of one run."""
    with LocalNetwork(root, N_NODES, slot=slot, f=F, k=k, start_in=3.0, salt=salt) as net:
        for node in net.nodes:
            node.config["consensus"]["tie_break"] = rule
            node.write_config()
        net.start()
        for node in net.nodes:
            wait_until(lambda node=node: ready(node), 60, f"node {node.index} API")
        wait_until(lambda: net.nodes[0].get("/network/info")["n_peers"] == N_NODES - 1, 30, "a connected star")
        genesis_id = wait_until(lambda: genesis_id_of(net.nodes[0]), 30, "the genesis id in node 0's log")
        deepest, end = 0, time.monotonic() + window
        while time.monotonic() < end:
            deepest = max(deepest, max_pair_depth([chain_of(node, genesis_id) for node in net.nodes]))
            time.sleep(sample)
        time.sleep(3 * slot + 2.0)
        final = [chain_of(node, genesis_id) for node in net.nodes]
        deepest = max(deepest, max_pair_depth(final))
        below_lib = sum(node.log_text().count("fork_below_lib") for node in net.nodes)
        return deepest, max_pair_depth(final) > k, max(len(c) - 1 for c in final), below_lib


def simulate(n_nodes: int, f: float, k: int, slots: int, rule: str, rng: random.Random) -> tuple[int, bool]:
    """One run of a slot-level model (equal stake, every block reaches every node within its slot, a node sees
    its own block first): (max fork depth between nodes, permanent split > k). Nodes follow maxvalid_mc."""
    win = 1 - (1 - f) ** (1 / n_nodes)
    parent, height, ticket = [0], [0], [0.0]  # block 0 = genesis
    tips = [0] * n_nodes

    def depth(a: int, b: int) -> tuple[int, int]:
        x, y = a, b
        while height[x] > height[y]:
            x = parent[x]
        while height[y] > height[x]:
            y = parent[y]
        while x != y:
            x, y = parent[x], parent[y]
        return height[a] - height[x], height[b] - height[x]

    deepest = 0
    for _ in range(slots):
        made = []
        for node in range(n_nodes):
            if rng.random() < win:
                parent.append(tips[node])
                height.append(height[tips[node]] + 1)
                ticket.append(rng.random())
                made.append((node, len(parent) - 1))
        for node in range(n_nodes):
            own = [block for maker, block in made if maker == node]
            if own:
                tips[node] = own[0]
            others = [block for maker, block in made if maker != node]
            rng.shuffle(others)  # arrival order
            for block in others:
                mine, _ = depth(tips[node], block)
                if mine > k:
                    continue
                longer = height[block] > height[tips[node]]
                tie = height[block] == height[tips[node]] and rule == "lower_vrf" and ticket[block] < ticket[tips[node]]
                if longer or tie:
                    tips[node] = block
        for a, b in itertools.combinations(tips, 2):
            deepest = max(deepest, min(depth(a, b)))
    split = any(min(depth(a, b)) > k for a, b in itertools.combinations(tips, 2))
    return deepest, split


def simulation_table(runs: int, slots: int, ks: list[int]) -> None:
    rng = random.Random(14)
    print(f"\nSlot-level model: {N_NODES} equal-stake nodes, f = {F}, {slots} slots per run, {runs} runs\n")
    print("| k | rule | runs | max fork depth | permanent splits (> k) |")
    print("|---|---|---|---|---|")
    for k, rule in itertools.product(ks, RULES):
        results = [simulate(N_NODES, F, k, slots, rule, rng) for _ in range(runs)]
        print(f"| {k} | {rule} | {runs} | {max(d for d, _ in results)} | {sum(s for _, s in results)} "
              f"({100 * sum(s for _, s in results) / runs:.1f} %) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fork_ties", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="slot:k pairs, comma separated")
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0, help="seconds of observation per run")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between chain samples")
    parser.add_argument("--simulate", type=int, default=0, metavar="RUNS",
                        help="instead of real nodes, RUNS runs of the slot-level model per k and rule")
    parser.add_argument("--slots", type=int, default=120, help="slots per simulated run")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.simulate:
        simulation_table(args.simulate, args.slots, sorted({int(k) for _, k in
                                                              (c.split(":") for c in args.cases.split(","))}))
        return 0
    cases = [(float(s), int(k)) for s, k in (item.split(":") for item in args.cases.split(","))]
    rules = [rule.strip() for rule in args.rules.split(",")]
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="fork-ties-") as tmp:
        for (slot, k), rule in itertools.product(cases, rules):
            result = CaseResult(slot, k, rule)
            for run in range(args.runs):
                root = Path(tmp) / f"{slot}-{k}-{rule}-{run}"
                depth, split, height, below = one_run(root, slot, k, rule, args.window, args.sample, salt=run)
                result.runs += 1
                result.max_depth = max(result.max_depth, depth)
                result.splits += int(split)
                result.heights.append(height)
                result.reorgs_below_lib += below
                print(f"  slot {slot} s k {k} {rule} run {run}: max depth {depth}, split {split}, height {height}, "
                      f"fork_below_lib lines {below}", flush=True)
            results.append(result)
    print(f"\nTie rule, {N_NODES} nodes on a star, f = {F}, {args.window:.0f} s per run\n")
    print("| slot | k | rule | runs | max fork depth between nodes | permanent splits (> k) | fork_below_lib lines "
          "| final heights |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.slot} s | {r.k} | {r.rule} | {r.runs} | {r.max_depth} | {r.splits} | {r.reorgs_below_lib} "
              f"| {', '.join(map(str, r.heights))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

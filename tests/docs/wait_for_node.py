"""Test glue for the docs/node.md walkthrough: wait until a node's API shows a height and a peer count.

    python wait_for_node.py http://localhost:18080 --height 2 --peers 2 --timeout 90

Exit 0 when both hold, 1 (with the last answer) on timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return json.loads(answer.read())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("api")
    parser.add_argument("--height", type=int, default=0)
    parser.add_argument("--peers", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    deadline, last = time.monotonic() + args.timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            info, network = get(args.api + "/cryptarchia/info"), get(args.api + "/network/info")
            last = f"height={info.get('height')} n_peers={network.get('n_peers')}"
            if info.get("height", -1) >= args.height and network.get("n_peers", -1) >= args.peers:
                print(f"wait_for_node: {last}", flush=True)
                return 0
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    print(f"wait_for_node: timed out after {args.timeout:g} s; last: {last}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Data-availability benchmark (issue 10): what `nomos_da` spends to encode, commit and prove a blob, against the
multi-scalar multiplications (MSMs) that encoding needs — the bound — measured in the same run, and what it
spends to verify one share.

    python -m benchmarks da                                  # 64 KiB, 256 KiB, 1 MiB × 2 and 16 columns
    python -m benchmarks da --sizes-kib 64 --columns 2,4,16 --repeats 3

Per blob size and column count n (k = n/2 chunks of 31 bytes per row, rows = ⌈size / 31k⌉):

* encode: `nomos_da.encoder.encode` end to end (chunking, RS ×2 extension, one KZG commitment per row,
  Fiat–Shamir, the combined polynomial, n combined proofs, the shares), best of `--repeats`;
* bound: only the MSMs the encoding cannot avoid, run on the same inputs with the scalars already converted:
  one MSM of size k per row (the row commitments) and n MSMs of size k−1 (the combined proofs), each as
  `nomos_da.kzg.msm_scalars` does it (an arkworks MSM; a single term as one scalar multiplication, cheaper in
  this library than a one-point MSM call);
* verify: `verify_share` of one share, cold (its blob's combined commitment not cached: decompressing every
  row commitment and the MSM C_Q = Σ h^r·C_r) and warm (cached: the column's combined value and one pairing
  check), averaged over the shares.

Target: encode within 3× of the bound. Exit 1 when a configuration misses it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from nomos_da import kzg, verifier
from nomos_da.encoder import encode, row_bytes
from nomos_da.params import KzgParams, spec_setup
from nomos_da.verifier import verify_share

TARGET_RATIO = 3.0


def _best(repeats: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def measure(size: int, num_columns: int, params: KzgParams, repeats: int) -> dict[str, float]:
    data = os.urandom(size)
    k = num_columns // 2
    encode(data[:row_bytes(num_columns)], num_columns, params)  # warm the per-k caches (Lagrange points)
    encode_s = _best(repeats, lambda: encode(data, num_columns, params))
    blob = encode(data, num_columns, params)

    # the bound: the same MSMs with the inputs prepared outside the timing
    lagrange = kzg.lagrange_points(params, k)
    row_width = row_bytes(num_columns)
    padded = data + bytes(blob.rows * row_width - len(data))
    row_scalars = [kzg.scalars([int.from_bytes(padded[start + 31 * i: start + 31 * (i + 1)], "big")
                                for i in range(k)])
                   for start in range(0, len(padded), row_width)]
    proof_points = list(params.g1[:k - 1])
    proof_scalars = kzg.scalars([int.from_bytes(os.urandom(31), "big") for _ in range(k - 1)])

    def msms() -> None:
        for scalars in row_scalars:
            kzg.msm_scalars(lagrange, scalars)
        for _ in range(num_columns):
            kzg.msm_scalars(proof_points, proof_scalars)

    bound_s = _best(repeats, msms)

    verifier.clear_cache()
    started = time.perf_counter()
    assert verify_share(blob.shares[0], params, num_columns)
    cold_s = time.perf_counter() - started
    warm = blob.shares[1:] or blob.shares
    started = time.perf_counter()
    assert all(verify_share(share, params, num_columns) for share in warm)
    warm_s = (time.perf_counter() - started) / len(warm)
    return {"rows": blob.rows, "encode_s": encode_s, "bound_s": bound_s, "cold_s": cold_s, "warm_s": warm_s}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks da", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-kib", default="64,256,1024", help="blob sizes in KiB, comma-separated")
    parser.add_argument("--columns", default="2,16", help="column counts n (powers of two), comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="encode and bound: best of this many runs")
    args = parser.parse_args(argv)
    sizes = [int(float(s) * 1024) for s in args.sizes_kib.split(",")]
    columns = [int(c) for c in args.columns.split(",")]
    started = time.perf_counter()
    params = spec_setup()
    print(f"setup (tau = 1987, 4096 G1 / 8 G2 powers, in memory): {time.perf_counter() - started:.2f} s")
    print("| blob | n | rows | encode (s) | MiB/s | MSM bound (s) | encode / bound | verify cold (ms) "
          "| verify warm (ms) | target ≤ 3× |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    missed = 0
    for size in sizes:
        for n in columns:
            m = measure(size, n, params, args.repeats)
            ratio = m["encode_s"] / m["bound_s"]
            ok = ratio <= TARGET_RATIO
            missed += not ok
            print(f"| {size / 1024:g} KiB | {n} | {m['rows']:.0f} | {m['encode_s']:.2f} "
                  f"| {size / 2**20 / m['encode_s']:.2f} | {m['bound_s']:.2f} | {ratio:.2f}× "
                  f"| {m['cold_s'] * 1e3:.1f} | {m['warm_s'] * 1e3:.1f} | {'met' if ok else '**missed**'} |",
                  flush=True)
    return 1 if missed else 0

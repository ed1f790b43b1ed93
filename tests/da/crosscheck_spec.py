"""Cross-check tests/da/vectors.json against the specification's own Python code (not part of the suite).

Runs OUTSIDE this repository's environment, in a scratch Python 3.12 venv with the reference's pinned
dependencies (remerkleable 0.1.27, py_ecc 6.0.0, py_arkworks_bls12381 0.3.4, milagro_bls_binding 1.9.0),
against checkouts of logos-co/nomos-specs (its ``da/``) and of ethereum/consensus-specs at the commit the
nomos-specs submodule ``da/eth-specs`` pins (ae3ef6f3…). Instead of building the whole ``eth2spec`` package,
it assembles the few ``eth2spec`` names the reference imports in a temporary directory: the utils/bls.py of
that commit as is, the types as the pyspec builder generates them (``BLSFieldElement(uint256)``,
``KZGCommitment(Bytes48)``, …) and the functions taken verbatim, at run time, from that commit's markdown.

    python3.12 -m venv /tmp/specs-venv
    /tmp/specs-venv/bin/pip install remerkleable==0.1.27 py_ecc==6.0.0 py_arkworks_bls12381==0.3.4 \\
        milagro_bls_binding==1.9.0
    /tmp/specs-venv/bin/python tests/da/crosscheck_spec.py --nomos-specs DIR --consensus-specs DIR

For every vector the reference's ``DAEncoder``, given the payload (zero-padded to whole rows when it is not
`spec_exact`), must give the same row commitments, blob id, extended columns and combined column proofs —
except the proof of the `spec_proof_differs_at` column, where the reference's own proof must fail the
reference's verifier; every share of every vector must pass the reference's ``DAVerifier``, and a share with
one flipped column byte must fail it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

VECTORS = Path(__file__).with_name("vectors.json")
DENEB_FUNCTIONS = ["bls_modular_inverse", "div", "bytes_to_bls_field"]
SAMPLING_FUNCTIONS = ["add_polynomialcoeff", "neg_polynomialcoeff", "multiply_polynomialcoeff",
                      "divide_polynomialcoeff", "interpolate_polynomialcoeff", "vanishing_polynomialcoeff",
                      "evaluate_polynomialcoeff"]


def _function(markdown: str, name: str) -> str:
    match = re.search(rf"```python\n(def {name}\(.*?)```", markdown, re.S)
    if not match:
        raise SystemExit(f"function {name} not found in the consensus-specs markdown")
    return match.group(1)


def _constant(markdown: str, name: str) -> str:
    match = re.search(rf"\| `{name}` \| `?([^`|]+?)`? \|", markdown)
    if not match:
        raise SystemExit(f"constant {name} not found in the consensus-specs markdown")
    return match.group(1).strip()


def build_eth2spec(consensus: Path, into: Path) -> None:
    package = into / "eth2spec"
    for sub in ("", "utils", "deneb", "eip7594"):
        (package / sub).mkdir(parents=True, exist_ok=True)
        (package / sub / "__init__.py").write_text("")
    shutil.copy(consensus / "tests/core/pyspec/eth2spec/utils/bls.py", package / "utils" / "bls.py")
    deneb = (consensus / "specs/deneb/polynomial-commitments.md").read_text()
    sampling = (consensus / "specs/_features/eip7594/polynomial-commitments-sampling.md").read_text()
    header = "\n".join([
        "from typing import Sequence",
        "from remerkleable.basic import uint64, uint256",
        "from remerkleable.byte_arrays import Bytes32, Bytes48",
        "from eth2spec.utils import bls",
        "class BLSFieldElement(uint256):\n    pass",
        "class KZGCommitment(Bytes48):\n    pass",
        "class KZGProof(Bytes48):\n    pass",
        "PolynomialCoeff = list",
        f"BLS_MODULUS = {_constant(deneb, 'BLS_MODULUS')}",
        f"BYTES_PER_FIELD_ELEMENT = {_constant(deneb, 'BYTES_PER_FIELD_ELEMENT')}",
        f"KZG_ENDIANNESS = {_constant(deneb, 'KZG_ENDIANNESS')}",
        "",
    ])
    (package / "deneb" / "mainnet.py").write_text(
        header + "\n\n".join(_function(deneb, name) for name in DENEB_FUNCTIONS))
    (package / "eip7594" / "mainnet.py").write_text(
        "from eth2spec.deneb.mainnet import *  # noqa\nfrom eth2spec.deneb.mainnet import BLSFieldElement, "
        "KZGCommitment, KZGProof, Bytes32, BLS_MODULUS, BYTES_PER_FIELD_ELEMENT, bls_modular_inverse, div\n\n"
        + "\n\n".join(_function(sampling, name) for name in SAMPLING_FUNCTIONS))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nomos-specs", type=Path, required=True, help="checkout holding da/")
    parser.add_argument("--consensus-specs", type=Path, required=True, help="checkout at the pinned commit")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="eth2spec-shim-"))
    build_eth2spec(args.consensus_specs, scratch)
    sys.path[:0] = [str(scratch), str(args.nomos_specs)]

    from da.common import Column, build_blob_id  # type: ignore[import-not-found]
    from da.encoder import DAEncoder, DAEncoderParams  # type: ignore[import-not-found]
    from da.verifier import DAShare, DAVerifier  # type: ignore[import-not-found]
    from eth2spec.eip7594.mainnet import KZGCommitment, KZGProof  # type: ignore[import-not-found]

    failures = 0
    vectors = json.loads(VECTORS.read_text())["vectors"]
    for vector in vectors:
        name, n = vector["name"], vector["num_columns"]
        commitments = [KZGCommitment(bytes.fromhex(c)) for c in vector["rows_commitments"]]
        checks: list[tuple[str, bool]] = []
        # the reference encodes whole rows only: give it the payload zero-padded to whole rows
        payload = bytes.fromhex(vector["payload"])
        row = 31 * (n // 2)
        padding = -len(payload) % row
        payload += bytes(padding)
        label = " (payload zero-padded to whole rows)" if padding else ""
        encoded = DAEncoder(DAEncoderParams(column_count=n // 2, bytes_per_chunk=31)).encode(payload)
        spec_columns = [[bytes(chunk).hex() for chunk in column] for column in encoded.extended_matrix.columns]
        spec_proofs = [bytes(p).hex() for p in encoded.combined_column_proofs]
        differs = vector.get("spec_proof_differs_at")
        ours = list(vector["combined_column_proofs"])
        if differs is not None:
            spec_share = DAShare(Column(list(encoded.extended_matrix.columns)[differs]), differs,
                                 encoded.combined_column_proofs[differs], encoded.row_commitments)
            checks.append((f"the reference's own proof for column {differs} fails the reference's verifier "
                           f"(its long division quirk) while ours differs", not DAVerifier.verify(spec_share)
                           and spec_proofs[differs] != ours[differs]))
            spec_proofs[differs] = ours[differs] = "(skipped)"
        checks += [
            ("row commitments" + label,
             [bytes(c).hex() for c in encoded.row_commitments] == vector["rows_commitments"]),
            ("blob id" + label, build_blob_id(encoded.row_commitments).hex() == vector["blob_id"]),
            ("extended columns" + label, spec_columns == vector["columns"]),
            ("combined column proofs" + label + ("" if differs is None else f" (all but column {differs})"),
             spec_proofs == ours),
        ]
        verified = []
        for j in range(n):
            column = Column(bytes.fromhex(x) for x in vector["columns"][j])
            share = DAShare(column, j, KZGProof(bytes.fromhex(vector["combined_column_proofs"][j])), commitments)
            verified.append(bool(DAVerifier.verify(share)))
        checks.append((f"the reference verifies all {n} shares", all(verified)))
        tampered = [bytes.fromhex(x) for x in vector["columns"][0]]
        tampered[0] = tampered[0][:-1] + bytes([tampered[0][-1] ^ 1])
        share = DAShare(Column(tampered), 0, KZGProof(bytes.fromhex(vector["combined_column_proofs"][0])), commitments)
        checks.append(("the reference rejects a flipped column byte", not DAVerifier.verify(share)))
        for label, ok in checks:
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {label}")
    print(f"{len(vectors)} vectors, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""nomos_da: encode / verify / reconstruct round trips, any half of the columns, every tamper detected, the
committed test vectors, and the field, polynomial and KZG pieces underneath."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomos_da import bdfg, field, kzg, poly, rs
from nomos_da.encoder import EncodedBlob, chunkify, encode, row_bytes
from nomos_da.params import KzgParams, spec_setup
from nomos_da.share import Share, ShareFormatError
from nomos_da.verifier import ReconstructionError, check_share, reconstruct, verify_share
from tests.da import make_vectors

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = st.sampled_from([2, 4, 8, 16])


@pytest.fixture(scope="module")
def params() -> KzgParams:
    return spec_setup()


@pytest.fixture(scope="module")
def blob(params: KzgParams) -> EncodedBlob:
    """4 columns, 3 rows, the last one padded."""
    return encode(bytes(random.Random(7).randbytes(150)), 4, params)


# ------------------------------------------------------------------------------------------ round trips

@SETTINGS
@given(data=st.binary(min_size=1, max_size=4000), num_columns=COLUMNS, seed=st.integers(0, 2**32))
def test_encode_verify_reconstruct_round_trip(data: bytes, num_columns: int, seed: int) -> None:
    params = spec_setup()
    encoded = encode(data, num_columns, params)
    assert len(encoded.shares) == num_columns and encoded.original_size == len(data)
    assert encoded.rows == max(1, -(-len(data) // row_bytes(num_columns)))
    assert encoded.blob_id == bdfg.build_blob_id(encoded.rows_commitments)
    assert [s.share_idx for s in encoded.shares] == list(range(num_columns))
    assert all(check_share(share, params, num_columns) is None for share in encoded.shares)
    half = random.Random(seed).sample(encoded.shares, num_columns // 2)
    assert reconstruct(half, len(data), num_columns) == data
    assert reconstruct(half, len(data)) == data  # the column count deduced
    # the share JSON round trip is lossless
    assert [Share.from_json(json.loads(json.dumps(s.to_json()))) for s in half] == half


def test_any_half_of_the_columns_reconstructs(params: KzgParams) -> None:
    data = random.Random(1).randbytes(31 * 4 * 3 - 5)
    encoded = encode(data, 8, params)
    subsets = list(itertools.combinations(encoded.shares, 4))
    assert len(subsets) == 70
    for subset in subsets:
        assert reconstruct(subset, len(data), 8) == data
        assert reconstruct(subset, len(data)) == data
    # more than half works too, duplicates are ignored
    assert reconstruct([*encoded.shares[2:], encoded.shares[3]], len(data), 8) == data


def test_the_extension_is_systematic_and_any_half_recovers_a_row() -> None:
    for k in (1, 2, 4, 8):
        row = [random.Random(k).randrange(1 << 248) for _ in range(k)]
        extended = rs.extend(row)
        assert extended[:k] == row and len(extended) == 2 * k
        coefficients = poly.interpolate(rs.domain(k), row)
        assert extended == [poly.evaluate(coefficients, x) for x in rs.domain(2 * k)]
        subsets = list(itertools.combinations(range(2 * k), k))
        for indices in random.Random(k).sample(subsets, min(len(subsets), 40)):
            assert rs.recover(k, indices, [extended[i] for i in indices]) == row


def test_chunks_are_31_byte_big_endian_and_rows_are_zero_padded() -> None:
    data = bytes(range(1, 63)) + b"\xff"
    matrix = chunkify(data, 4)  # rows of 2 chunks, 62 bytes
    assert matrix[0] == [int.from_bytes(data[:31], "big"), int.from_bytes(data[31:62], "big")]
    assert matrix[1] == [0xFF << (8 * 30), 0]  # "\xff" then zero padding, read big-endian
    assert chunkify(b"\x01", 2) == [[1 << (8 * 30)]]


def test_bad_arguments_are_refused(params: KzgParams) -> None:
    for columns in (0, 1, 3, 6, 8192, True):
        with pytest.raises(ValueError, match="num_columns"):
            encode(b"x", columns, params)
    with pytest.raises(ValueError, match="empty"):
        encode(b"", 2, params)


def test_encoding_is_deterministic(params: KzgParams) -> None:
    data = random.Random(3).randbytes(500)
    assert encode(data, 8, params) == encode(data, 8, params)


# ------------------------------------------------------------------------------------------ tampering

def _flip(hex_text: str, position: int, bit: int) -> str:
    data = bytearray(bytes.fromhex(hex_text))
    data[position % len(data)] ^= 1 << bit
    return data.hex()


def _rejected(obj: dict[str, object], params: KzgParams) -> bool:
    try:
        share = Share.from_json(obj)
    except ShareFormatError:
        return True
    return not verify_share(share, params, 4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 3), target=st.sampled_from(["column", "combined_column_proof", "rows_commitments",
                                                         "blob_id"]),
       element=st.integers(0, 10), position=st.integers(0, 47), bit=st.integers(0, 7))
def test_every_flipped_byte_is_detected(index: int, target: str, element: int, position: int, bit: int) -> None:
    params = spec_setup()
    encoded = encode(bytes(random.Random(7).randbytes(150)), 4, params)
    obj = encoded.shares[index].to_json()
    if isinstance(obj[target], list):
        items = list(obj[target])
        items[element % len(items)] = _flip(items[element % len(items)], position, bit)
        obj[target] = items
    else:
        obj[target] = _flip(obj[target], position, bit)
    assert _rejected(obj, params), (target, element, position, bit)


def test_every_byte_of_a_share_matters(blob: EncodedBlob, params: KzgParams) -> None:
    """Exhaustive over the bytes of one share (a flipped low bit in each): column elements, the proof, every
    commitment, the blob id."""
    original = blob.shares[1].to_json()
    assert verify_share(Share.from_json(original), params, 4)
    for name in ("column", "rows_commitments"):
        for element in range(len(original[name])):
            for position in range(len(bytes.fromhex(original[name][element]))):
                obj = dict(original)
                obj[name] = [*original[name]]
                obj[name][element] = _flip(original[name][element], position, 0)
                assert _rejected(obj, params), (name, element, position)
    for name in ("combined_column_proof", "blob_id"):
        for position in range(len(bytes.fromhex(original[name]))):
            assert _rejected({**original, name: _flip(original[name], position, 0)}, params), (name, position)


def test_a_share_under_another_index_is_rejected(blob: EncodedBlob, params: KzgParams) -> None:
    for share in blob.shares:
        for other in range(8):
            moved = dataclasses.replace(share, share_idx=other)
            assert verify_share(moved, params) == (other == share.share_idx), (share.share_idx, other)
    assert check_share(dataclasses.replace(blob.shares[0], share_idx=5), params, 4) == \
        "share_idx 5 out of range (< 4)"


def test_structural_tampering_is_rejected_with_a_reason(blob: EncodedBlob, params: KzgParams) -> None:
    share = blob.shares[2]
    assert check_share(dataclasses.replace(share, column=share.column[:-1]), params) == \
        "column has 2 elements for 3 rows"
    assert "blob_id" in str(check_share(dataclasses.replace(share, blob_id=bytes(32)), params))
    swapped = dataclasses.replace(share, column=(share.column[1], share.column[0], share.column[2]))
    assert "does not open" in str(check_share(swapped, params))
    # the identity point under a stray bit: canonical encodings only
    one_row = encode(b"abc", 2, params).shares[0]
    assert one_row.combined_column_proof == bytes([0xC0]) + bytes(47)  # k = 1: Q is constant, the proof is 0
    assert "canonical" in str(check_share(dataclasses.replace(
        one_row, combined_column_proof=bytes([0xC0]) + bytes(46) + b"\x01"), params))
    assert verify_share(one_row, params) and not verify_share(dataclasses.replace(one_row, column=(5,)), params)


def test_reconstruct_refuses_what_cannot_be_rebuilt(blob: EncodedBlob, params: KzgParams) -> None:
    with pytest.raises(ReconstructionError, match="at least 2"):
        reconstruct(blob.shares[:1], 150, 4)
    with pytest.raises(ReconstructionError, match="no shares"):
        reconstruct([], 150)
    with pytest.raises(ReconstructionError, match="rows"):
        reconstruct(blob.shares[:2], 400, 4)
    other = encode(b"other", 4, params)
    with pytest.raises(ReconstructionError, match="not all of one blob"):
        reconstruct([blob.shares[0], other.shares[1]], 150, 4)


# ------------------------------------------------------------------------------------------ vectors

def test_the_committed_vectors_are_what_the_encoder_produces(params: KzgParams) -> None:
    """tests/da/vectors.json (written by `python -m tests.da.make_vectors`, checked against the reference's
    own code by tests/da/crosscheck_spec.py) is reproduced exactly, and its shares verify and rebuild."""
    vectors = json.loads(make_vectors.VECTORS.read_text())["vectors"]
    assert [v["name"] for v in vectors] == [case[0] for case in make_vectors.CASES]
    for vector in vectors:
        data = bytes.fromhex(vector["payload"])
        encoded = encode(data, vector["num_columns"], params)
        assert encoded.blob_id.hex() == vector["blob_id"], vector["name"]
        assert [c.hex() for c in encoded.rows_commitments] == vector["rows_commitments"], vector["name"]
        assert [p.hex() for p in encoded.combined_column_proofs] == vector["combined_column_proofs"], vector["name"]
        assert [s.to_json()["column"] for s in encoded.shares] == vector["columns"], vector["name"]
        shares = [Share.from_json({"blob_id": vector["blob_id"], "share_idx": j, "column": column,
                                   "combined_column_proof": vector["combined_column_proofs"][j],
                                   "rows_commitments": vector["rows_commitments"]})
                  for j, column in enumerate(vector["columns"])]
        assert all(verify_share(share, params) for share in shares), vector["name"]
        assert reconstruct(shares[len(shares) // 2:], len(data)) == data, vector["name"]
    assert make_vectors.render() == make_vectors.VECTORS.read_text()  # deterministic, and up to date


# ------------------------------------------------------------------------------------------ pieces

def test_roots_of_unity_are_the_specifications() -> None:
    omega = field.root_of_unity(4096)
    assert omega == pow(7, (field.BLS_MODULUS - 1) // 4096, field.BLS_MODULUS)
    assert pow(omega, 4096, field.BLS_MODULUS) == 1 and pow(omega, 2048, field.BLS_MODULUS) != 1
    roots = field.roots_of_unity(4096)
    assert roots[0] == 1 and roots[1] == omega and len(set(roots)) == 4096
    assert rs.domain(8) == roots[:8]
    with pytest.raises(ValueError):
        field.root_of_unity(2**33)  # r - 1 = 2^32 · odd


def test_fft_inverts_and_matches_evaluation() -> None:
    rng = random.Random(5)
    for n in (1, 2, 8, 64):
        coefficients = [rng.randrange(field.BLS_MODULUS) for _ in range(n)]
        evaluations = field.fft(coefficients)
        assert evaluations == [poly.evaluate(coefficients, x) for x in field.roots_of_unity(n)]
        assert field.ifft(evaluations) == coefficients
    values = [rng.randrange(1, field.BLS_MODULUS) for _ in range(10)]
    assert all(v * i % field.BLS_MODULUS == 1 for v, i in zip(values, field.batch_inverse(values), strict=True))


def test_kzg_commit_open_verify(params: KzgParams) -> None:
    rng = random.Random(9)
    coefficients = [rng.randrange(field.BLS_MODULUS) for _ in range(6)]
    commitment = kzg.commit(coefficients, params)
    u = rs.domain(12)[11]
    proof, value = kzg.prove(coefficients, u, params)
    assert value == poly.evaluate(coefficients, u)
    assert kzg.verify(commitment, u, value, proof, params)
    assert not kzg.verify(commitment, u, value + 1, proof, params)
    assert not kzg.verify(commitment, rs.domain(12)[10], value, proof, params)
    # the Lagrange points commit to a row exactly as its coefficients do with the powers of tau
    row = [rng.randrange(1 << 248) for _ in range(8)]
    assert kzg.msm(kzg.lagrange_points(params, 8), row) == kzg.commit(poly.interpolate(rs.domain(8), row), params)
    assert kzg.decompress(kzg.compress(commitment)) == commitment
    with pytest.raises(ValueError):
        kzg.decompress(b"\x00" * 48)


def test_fiat_shamir_challenge_reads_the_digest_as_the_specification_does() -> None:
    commitments = [kzg.compress(kzg.commit([i + 1], spec_setup())) for i in range(3)]
    import hashlib

    digest = hashlib.blake2b(b"NOMOS_DA_V1" + b"".join(commitments), digest_size=31).digest()
    assert bdfg.derive_challenge(commitments) == int.from_bytes(digest, "big") * 256 % field.BLS_MODULUS
    assert bdfg.combine([1, 2, 3], 10) == 321

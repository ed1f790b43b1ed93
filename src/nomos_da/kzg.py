"""KZG commitments, openings and their verification over BLS12-381 (py-arkworks-bls12381).

A polynomial is a coefficient list over Fr (ints); its commitment is ``Σ c_i·τ^i·G1`` — one multi-scalar
multiplication (MSM) with the setup's G1 powers. The opening proof at u is the commitment to
``(p(x) - p(u)) / (x - u)``; it verifies with one pairing check
``e(C - v·G1, -G2) · e(π, τ·G2 - u·G2) = 1``. Points travel compressed (48 bytes for G1).
"""

from __future__ import annotations

from collections.abc import Sequence

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from nomos_da import rs
from nomos_da.field import BLS_MODULUS
from nomos_da.params import KzgParams
from nomos_da.poly import divide_by_linear

G1_COMPRESSED_BYTES = 48


def scalars(values: Sequence[int]) -> list[Scalar]:
    """Fr ints (any size; reduced mod r) as arkworks scalars (through 32-byte big-endian, the fast path)."""
    return [Scalar.from_be_bytes((value % BLS_MODULUS).to_bytes(32, "big")) for value in values]


def msm(points: Sequence[G1Point], values: Sequence[int]) -> G1Point:
    """``Σ values[i]·points[i]`` (the identity when empty)."""
    return msm_scalars(points, scalars(values))


def msm_scalars(points: Sequence[G1Point], factors: Sequence[Scalar]) -> G1Point:
    """``Σ factors[i]·points[i]`` over the first len(factors) points: one arkworks MSM, or for a single term one
    scalar multiplication (about 2.5× cheaper in py_arkworks_bls12381 than a one-point MSM call)."""
    if not factors:
        return G1Point.identity()
    if len(factors) == 1:
        return points[0] * factors[0]
    return G1Point.multiexp_unchecked(list(points[:len(factors)]), list(factors))


def lagrange_points(params: KzgParams, k: int) -> list[G1Point]:
    """``L_i(τ)·G1`` for the Lagrange basis of the first k encoding points (cached on `params`): an MSM of a
    row's values with these is the commitment to the row polynomial's coefficients with the powers of τ."""
    key = ("lagrange", k)
    cached = params._cache.get(key)
    if cached is None:
        if k > len(params.g1):
            raise ValueError(f"rows of {k} elements need {k} G1 powers, the setup has {len(params.g1)}")
        matrix = rs.interpolation_matrix(k)
        cached = params._cache[key] = [commit([matrix[degree][i] for degree in range(k)], params) for i in range(k)]
    return list(cached)


def commit(coefficients: Sequence[int], params: KzgParams) -> G1Point:
    if len(coefficients) > len(params.g1):
        raise ValueError(f"a polynomial of {len(coefficients)} coefficients needs as many G1 powers, "
                         f"the setup has {len(params.g1)}")
    return msm(params.g1, coefficients)


def prove(coefficients: Sequence[int], u: int, params: KzgParams) -> tuple[G1Point, int]:
    """``(π, p(u))``: the opening proof of p at u and the value it proves."""
    quotient, value = divide_by_linear(coefficients, u)
    return commit(quotient, params), value


def verify(commitment: G1Point, u: int, value: int, proof: G1Point, params: KzgParams) -> bool:
    """Check that `proof` opens `commitment` to `value` at `u`."""
    shifted_commitment = commitment - G1Point() * Scalar(value % BLS_MODULUS)
    shifted_tau = params.g2[1] - G2Point() * Scalar(u % BLS_MODULUS)
    return bool(GT.pairing_check([shifted_commitment, proof], [params.neg_g2(), shifted_tau]))


def compress(point: G1Point) -> bytes:
    return bytes(point.to_compressed_bytes())


def decompress(data: bytes) -> G1Point:
    """A G1 point from its 48-byte compressed form, checked on the curve, in the subgroup and canonical (one
    encoding per point, so a flipped byte can never decode to the same point).

    Raises ValueError for anything else."""
    if len(data) != G1_COMPRESSED_BYTES:
        raise ValueError(f"a compressed G1 point is {G1_COMPRESSED_BYTES} bytes, got {len(data)}")
    try:
        point = G1Point.from_compressed_bytes(bytes(data))
    except Exception as exc:  # arkworks raises ValueError or its own error types
        raise ValueError(f"not a valid compressed G1 point: {exc}") from None
    if point.to_compressed_bytes() != bytes(data):  # e.g. the infinity flag with stray bits after it
        raise ValueError("not the canonical compressed form of a G1 point")
    return point

"""Reed–Solomon ×2 extension of a row over the specification's domain, and recovery from any half.

A row of k = n/2 field elements is read as the evaluations of a polynomial P of degree < k at the first k
powers of ω_4096 (``ω^0 … ω^(k-1)``); the extended row is P evaluated at the first 2k powers, so its first k
entries are the row itself and entries k … 2k-1 are new. Any k entries determine P, hence the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nomos_da import poly
from nomos_da.field import ROOTS_OF_UNITY_ORDER, roots_of_unity


def domain(size: int) -> tuple[int, ...]:
    """The first `size` points of the encoding domain: ``ω_4096^0 … ω_4096^(size-1)``."""
    if not 1 <= size <= ROOTS_OF_UNITY_ORDER:
        raise ValueError(f"the encoding domain has {ROOTS_OF_UNITY_ORDER} points, asked for {size}")
    return roots_of_unity(ROOTS_OF_UNITY_ORDER)[:size]


@lru_cache(maxsize=32)
def interpolation_matrix(k: int) -> poly.Matrix:
    """Row values (at ``ω^0 … ω^(k-1)``) → coefficients of the row polynomial."""
    return poly.interpolation_matrix(domain(k))


@lru_cache(maxsize=32)
def extension_matrix(k: int) -> poly.Matrix:
    """Row values → the k new values of the extended row (at ``ω^k … ω^(2k-1)``)."""
    points = domain(2 * k)
    return poly.evaluation_matrix(points[:k], points[k:])


def extend(row: Sequence[int]) -> list[int]:
    """The 2k evaluations of the row polynomial: the row followed by its k-element extension."""
    return [*row, *poly.apply(extension_matrix(len(row)), row)]


@lru_cache(maxsize=64)
def recovery_matrix(k: int, indices: tuple[int, ...]) -> poly.Matrix:
    """Values at the extended positions `indices` (k distinct, each < 2k) → the original row."""
    if len(indices) != k or len(set(indices)) != k:
        raise ValueError(f"recovery needs exactly {k} distinct positions, got {indices}")
    points = domain(2 * k)
    return poly.evaluation_matrix([points[i] for i in indices], points[:k])


def recover(k: int, indices: Sequence[int], values: Sequence[int]) -> list[int]:
    """The original k-element row from its extended values at `indices` (k distinct positions < 2k)."""
    return poly.apply(recovery_matrix(k, tuple(indices)), values)

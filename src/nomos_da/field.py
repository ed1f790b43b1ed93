"""Arithmetic in the BLS12-381 scalar field Fr: constants, roots of unity, inverses, FFT.

Field elements are plain Python ints in ``[0, BLS_MODULUS)``. The roots of unity are the specification's:
``ω_order = PRIMITIVE_ROOT ** ((BLS_MODULUS - 1) // order)`` with primitive root 7, listed as
``ω^0, ω^1, …, ω^(order-1)`` in natural (not bit-reversed) order. The encoding uses the powers of
``ω_4096`` (``ROOTS_OF_UNITY_ORDER``) for every number of columns; see docs/data-availability.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
PRIMITIVE_ROOT = 7
BYTES_PER_FIELD_ELEMENT = 32
ROOTS_OF_UNITY_ORDER = 4096


def root_of_unity(order: int) -> int:
    """A primitive `order`-th root of unity (`order` must divide BLS_MODULUS - 1)."""
    if order < 1 or (BLS_MODULUS - 1) % order:
        raise ValueError(f"no root of unity of order {order} in Fr (the order must divide r - 1)")
    return pow(PRIMITIVE_ROOT, (BLS_MODULUS - 1) // order, BLS_MODULUS)


@lru_cache(maxsize=16)
def roots_of_unity(order: int = ROOTS_OF_UNITY_ORDER) -> tuple[int, ...]:
    """``(ω^0, ω^1, …, ω^(order-1))`` for ``ω = root_of_unity(order)``; cached."""
    omega = root_of_unity(order)
    roots = [1] * order
    for i in range(1, order):
        roots[i] = roots[i - 1] * omega % BLS_MODULUS
    return tuple(roots)


def inverse(x: int) -> int:
    x %= BLS_MODULUS
    if x == 0:
        raise ZeroDivisionError("0 has no inverse in Fr")
    return pow(x, -1, BLS_MODULUS)


def batch_inverse(values: Sequence[int]) -> list[int]:
    """Inverses of all `values` (none zero) with one modular inversion (Montgomery's trick)."""
    prefix = [1] * (len(values) + 1)
    for i, value in enumerate(values):
        if value % BLS_MODULUS == 0:
            raise ZeroDivisionError("0 has no inverse in Fr")
        prefix[i + 1] = prefix[i] * value % BLS_MODULUS
    running = pow(prefix[-1], -1, BLS_MODULUS)
    result = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        result[i] = prefix[i] * running % BLS_MODULUS
        running = running * values[i] % BLS_MODULUS
    return result


def powers(base: int, count: int) -> list[int]:
    """``[1, base, base^2, …]``, `count` of them, reduced mod r."""
    result = [1] * count
    base %= BLS_MODULUS
    for i in range(1, count):
        result[i] = result[i - 1] * base % BLS_MODULUS
    return result


def _fft(values: Sequence[int], roots: Sequence[int]) -> list[int]:
    if len(values) == 1:
        return [values[0] % BLS_MODULUS]
    even = _fft(values[::2], roots[::2])
    odd = _fft(values[1::2], roots[::2])
    half = len(even)
    out = [0] * (2 * half)
    for i in range(half):
        twisted = odd[i] * roots[i] % BLS_MODULUS
        out[i] = (even[i] + twisted) % BLS_MODULUS
        out[i + half] = (even[i] - twisted) % BLS_MODULUS
    return out


def fft(values: Sequence[int]) -> list[int]:
    """Evaluations at ``ω_n^0 … ω_n^(n-1)`` of the polynomial with coefficients `values` (n a power of two)."""
    n = len(values)
    if n < 1 or n & (n - 1):
        raise ValueError(f"FFT size must be a power of two, got {n}")
    return _fft(values, roots_of_unity(n))


def ifft(values: Sequence[int]) -> list[int]:
    """Coefficients of the polynomial taking `values` at ``ω_n^0 … ω_n^(n-1)`` (inverse of `fft`)."""
    n = len(values)
    if n < 1 or n & (n - 1):
        raise ValueError(f"FFT size must be a power of two, got {n}")
    roots = roots_of_unity(n)
    inverse_roots = [roots[0], *roots[:0:-1]]
    n_inverse = inverse(n)
    return [x * n_inverse % BLS_MODULUS for x in _fft(values, inverse_roots)]

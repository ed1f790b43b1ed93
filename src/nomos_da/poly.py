"""Univariate polynomials over Fr as coefficient lists (lowest degree first), and interpolation matrices.

The encoding interpolates over a few fixed points (the first powers of ω_4096, which are not a
multiplicative subgroup, so no FFT applies); the matrices below are computed once per point set and cached
by the callers (`nomos_da.rs`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nomos_da.field import BLS_MODULUS, batch_inverse

Matrix = list[list[int]]


def evaluate(coefficients: Sequence[int], x: int) -> int:
    """p(x) by Horner's rule."""
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % BLS_MODULUS
    return result


def divide_by_linear(coefficients: Sequence[int], u: int) -> tuple[list[int], int]:
    """``(q, p(u))`` with ``p(x) = q(x)·(x - u) + p(u)``; q has ``len(p) - 1`` coefficients (none for a
    constant p)."""
    if not coefficients:
        return [], 0
    quotient = [0] * (len(coefficients) - 1)
    carry = 0
    for i in range(len(coefficients) - 1, 0, -1):
        carry = (carry * u + coefficients[i]) % BLS_MODULUS
        quotient[i - 1] = carry
    remainder = (carry * u + coefficients[0]) % BLS_MODULUS
    return quotient, remainder


def vanishing(points: Sequence[int]) -> list[int]:
    """Coefficients of ``Π (x - p)`` over `points`."""
    result = [1]
    for point in points:
        shifted = [0, *result]
        for i, coefficient in enumerate(result):
            shifted[i] = (shifted[i] - point * coefficient) % BLS_MODULUS
        result = shifted
    return result


def _barycentric_weights(points: Sequence[int]) -> list[int]:
    """``w_i = 1 / Π_{j≠i} (x_i - x_j)``."""
    products = []
    for i, xi in enumerate(points):
        product = 1
        for j, xj in enumerate(points):
            if i != j:
                product = product * (xi - xj) % BLS_MODULUS
        products.append(product)
    if any(product == 0 for product in products):
        raise ValueError("interpolation points must be distinct")
    return batch_inverse(products)


def interpolation_matrix(points: Sequence[int]) -> Matrix:
    """M (len(points) × len(points)) with ``coefficients = M · values`` for the interpolant through
    ``(points[i], values[i])``: column i holds the coefficients of the i-th Lagrange basis polynomial."""
    k = len(points)
    weights = _barycentric_weights(points)
    zero = vanishing(points)
    matrix = [[0] * k for _ in range(k)]
    for i, point in enumerate(points):
        basis, _ = divide_by_linear(zero, point)  # Π_{j≠i} (x - x_j)
        for degree, coefficient in enumerate(basis):
            matrix[degree][i] = coefficient * weights[i] % BLS_MODULUS
    return matrix


def evaluation_matrix(points: Sequence[int], targets: Sequence[int]) -> Matrix:
    """E (len(targets) × len(points)) with ``values at targets = E · values at points`` for polynomials of
    degree < len(points): ``E[t][i] = L_i(targets[t])``. A target equal to a point gives a unit row."""
    weights = _barycentric_weights(points)
    matrix: Matrix = []
    for target in targets:
        if target in points:
            row = [0] * len(points)
            row[list(points).index(target)] = 1
            matrix.append(row)
            continue
        differences = [(target - point) % BLS_MODULUS for point in points]
        inverses = batch_inverse(differences)
        zero_at_target = 1
        for difference in differences:
            zero_at_target = zero_at_target * difference % BLS_MODULUS
        matrix.append([zero_at_target * weights[i] % BLS_MODULUS * inverses[i] % BLS_MODULUS
                       for i in range(len(points))])
    return matrix


def apply(matrix: Matrix, vector: Sequence[int]) -> list[int]:
    """``matrix · vector`` mod r."""
    return [sum(a * b for a, b in zip(row, vector, strict=True)) % BLS_MODULUS for row in matrix]


def interpolate(points: Sequence[int], values: Sequence[int]) -> list[int]:
    """Coefficients of the polynomial of degree < len(points) through ``(points[i], values[i])``."""
    return apply(interpolation_matrix(points), values)

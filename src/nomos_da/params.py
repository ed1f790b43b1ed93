"""KZG parameters ("global parameters"): the deterministic TEST setup, its file, and where the file is.

INSECURE, TEST ONLY. The setup is the specification's (nomos-specs ``da/kzg_rs/common.py``): powers of the
fixed, public secret ``τ = 1987`` — ``τ^i·G1`` for i < 4096 and ``τ^i·G2`` for i < 8. Anyone who knows τ
(everyone) can forge openings, so these parameters prove nothing against an adversary; they exist so that
test networks, the reference node and the specification agree bit for bit.

File format of ``kzgrs_test_params`` (all integers big-endian), version 1:

====================  =====================================================================
bytes                 content
====================  =====================================================================
8                     magic ``NOMOSKZG``
2                     format version (1)
2                     length L of the notice
L                     notice, UTF-8: says the file is an insecure test setup and names τ
4                     secret τ the powers were generated from
4                     number of G1 powers (g1_count)
4                     number of G2 powers (g2_count)
48 × g1_count         ``τ^i·G1``, compressed (ZCash/IETF BLS12-381 serialization)
96 × g2_count         ``τ^i·G2``, compressed
32                    Blake2b-256 of every preceding byte (detects a truncated or corrupt file)
====================  =====================================================================

Generation is deterministic: the same bytes every time. ``nomos-testing setup kzg`` writes the file to the
default location; ``NOMOS_KZGRS_PARAMS_PATH`` overrides where it is read from (see `resolve_params_path`).
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

SECRET = 1987
G1_POWERS = 4096
G2_POWERS = 8
PARAMS_FILENAME = "kzgrs_test_params"
DEFAULT_PARAMS_PATH = Path("assets/kzgrs_test_params") / PARAMS_FILENAME
ENV_VAR = "NOMOS_KZGRS_PARAMS_PATH"
REMEDY = "run `nomos-testing setup kzg` to generate them"

MAGIC = b"NOMOSKZG"
FORMAT_VERSION = 1
NOTICE = (
    "INSECURE TEST-ONLY KZG SETUP. Powers of the public secret tau = 1987 (the Nomos specification's "
    "test parameters): anyone can forge KZG openings with it. Never use it outside tests."
)
G1_BYTES = 48
G2_BYTES = 96
CHECKSUM_BYTES = 32


class ParamsError(Exception):
    """The KZG parameters are missing, unreadable or corrupt; the message names the path and the remedy."""


@dataclass(frozen=True, eq=False)
class KzgParams:
    """A KZG setup: ``g1[i] = τ^i·G1``, ``g2[i] = τ^i·G2``. `_cache` holds points derived from it
    (`nomos_da.kzg.lagrange_points`)."""

    g1: tuple[G1Point, ...]
    g2: tuple[G2Point, ...]
    secret: int | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.g1) < 2 or len(self.g2) < 2:
            raise ValueError("a KZG setup needs at least 2 G1 and 2 G2 powers")

    def neg_g2(self) -> G2Point:
        cached = self._cache.get("neg_g2")
        if cached is None:
            cached = self._cache["neg_g2"] = -self.g2[0]
        return cached


def generate_setup(g1_count: int = G1_POWERS, g2_count: int = G2_POWERS, secret: int = SECRET) -> KzgParams:
    """The powers of `secret` in G1 and G2 (INSECURE: the secret is known). Deterministic."""
    tau = Scalar(secret)

    def powers_of(generator: Any, count: int) -> list[Any]:
        points = [generator]
        for _ in range(count - 1):
            points.append(points[-1] * tau)
        return points

    return KzgParams(tuple(powers_of(G1Point(), g1_count)), tuple(powers_of(G2Point(), g2_count)), secret)


@lru_cache(maxsize=1)
def spec_setup() -> KzgParams:
    """The specification's test setup (τ = 1987, 4096 G1 and 8 G2 powers), generated in memory once per
    process — for tests and benchmarks that need no file. INSECURE."""
    return generate_setup()


def serialize(params: KzgParams) -> bytes:
    """The file form of `params` (format in the module docstring)."""
    notice = NOTICE.encode()
    parts = [MAGIC, struct.pack(">HH", FORMAT_VERSION, len(notice)), notice,
             struct.pack(">III", params.secret or 0, len(params.g1), len(params.g2))]
    parts.extend(point.to_compressed_bytes() for point in params.g1)
    parts.extend(point.to_compressed_bytes() for point in params.g2)
    body = b"".join(parts)
    return body + hashlib.blake2b(body, digest_size=CHECKSUM_BYTES).digest()


def generate_params(path: str | os.PathLike[str]) -> Path:
    """Write the INSECURE test parameters (τ = 1987, 4096 G1 / 8 G2 powers) to `path` (parents created),
    atomically; the same bytes every time. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(serialize(spec_setup()))
    temporary.replace(target)
    return target


def _corrupt(path: Path, reason: str) -> ParamsError:
    return ParamsError(f"KZG parameters at {path} are corrupt ({reason}): {REMEDY} again")


def deserialize(data: bytes, path: Path = Path("<bytes>")) -> KzgParams:
    """Parse and check the file form; `path` only names the source in errors."""
    if len(data) < len(MAGIC) + 4 + CHECKSUM_BYTES or not data.startswith(MAGIC):
        raise _corrupt(path, "not a kzgrs_test_params file: wrong magic or too short")
    body, checksum = data[:-CHECKSUM_BYTES], data[-CHECKSUM_BYTES:]
    if hashlib.blake2b(body, digest_size=CHECKSUM_BYTES).digest() != checksum:
        raise _corrupt(path, "checksum mismatch: truncated or modified")
    offset = len(MAGIC)
    version, notice_length = struct.unpack_from(">HH", body, offset)
    if version != FORMAT_VERSION:
        raise _corrupt(path, f"format version {version}, this code reads version {FORMAT_VERSION}")
    offset += 4 + notice_length
    try:
        secret, g1_count, g2_count = struct.unpack_from(">III", body, offset)
    except struct.error:
        raise _corrupt(path, "header cut short") from None
    offset += 12
    expected = offset + g1_count * G1_BYTES + g2_count * G2_BYTES
    if len(body) != expected:
        raise _corrupt(path, f"{len(body)} bytes of header and points, the header announces {expected}")
    if g1_count < 2 or g2_count < 2:
        raise _corrupt(path, f"{g1_count} G1 and {g2_count} G2 powers, at least 2 of each are needed")
    try:
        g1 = tuple(G1Point.from_compressed_bytes_unchecked(body[offset + i * G1_BYTES: offset + (i + 1) * G1_BYTES])
                   for i in range(g1_count))
        offset += g1_count * G1_BYTES
        g2 = tuple(G2Point.from_compressed_bytes_unchecked(body[offset + i * G2_BYTES: offset + (i + 1) * G2_BYTES])
                   for i in range(g2_count))
    except ValueError as exc:
        raise _corrupt(path, f"a point does not decode: {exc}") from None
    params = KzgParams(g1, g2, secret or None)
    _check_consistency(params, path, checksum)
    return params


def _check_consistency(params: KzgParams, path: Path, seed: bytes) -> None:
    """Generators first, then one pairing check that both lists are powers of the same τ (random linear
    combinations, coefficients derived from the file's checksum: deterministic, not chosen by the file)."""
    if params.g1[0] != G1Point() or params.g2[0] != G2Point():
        raise _corrupt(path, "the first powers are not the generators")
    if not (all(point.is_in_subgroup() for point in params.g1[:2])
            and all(point.is_in_subgroup() for point in params.g2[:2])):
        raise _corrupt(path, "a point is outside the prime-order subgroup")

    def coefficients(label: bytes, count: int) -> list[Scalar]:
        return [Scalar.from_le_bytes_mod_order(hashlib.blake2b(seed + label + i.to_bytes(4, "big"),
                                                               digest_size=16).digest())
                for i in range(count)]

    c1 = coefficients(b"g1", len(params.g1) - 1)
    c2 = coefficients(b"g2", len(params.g2) - 1)
    g1_lower = G1Point.multiexp_unchecked(list(params.g1[:-1]), c1)
    g1_upper = G1Point.multiexp_unchecked(list(params.g1[1:]), c1)
    g2_lower = G2Point.multiexp_unchecked(list(params.g2[:-1]), c2)
    g2_upper = G2Point.multiexp_unchecked(list(params.g2[1:]), c2)
    # Σc1_i τ^(i+1) · Σc2_j τ^j == Σc1_i τ^i · Σc2_j τ^(j+1)
    if not GT.pairing_check([g1_upper, g1_lower], [-g2_lower, g2_upper]):
        raise _corrupt(path, "the G1 and G2 powers are not powers of one secret")


_LOADED: dict[tuple[str, int, int], KzgParams] = {}


def load_params(path: str | os.PathLike[str]) -> KzgParams:
    """Read and check the parameters file at `path` (cached per path, size and modification time).

    Raises ParamsError naming the path and the remedy when the file is missing, unreadable or corrupt."""
    target = Path(path)
    try:
        stat = target.stat()
    except FileNotFoundError:
        raise ParamsError(f"KZG parameters not found at {target}: {REMEDY}, or set {ENV_VAR} to a "
                          f"{PARAMS_FILENAME} file or a directory holding one") from None
    except OSError as exc:
        raise ParamsError(f"KZG parameters at {target} cannot be read ({exc}): {REMEDY}") from None
    if not target.is_file():
        raise ParamsError(f"KZG parameters at {target} are not a file: {REMEDY}, or point {ENV_VAR} at the "
                          f"{PARAMS_FILENAME} file")
    key = (str(target.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _LOADED.get(key)
    if cached is not None:
        return cached
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise ParamsError(f"KZG parameters at {target} cannot be read ({exc}): {REMEDY}") from None
    params = deserialize(data, target)
    _LOADED.clear()
    _LOADED[key] = params
    return params


def resolve_params_path(default: str | os.PathLike[str] = DEFAULT_PARAMS_PATH,
                        environ: Mapping[str, str] | None = None) -> Path:
    """Where the parameters are: ``$NOMOS_KZGRS_PARAMS_PATH`` (a file, or a directory holding
    ``kzgrs_test_params``) when set and non-empty, else `default` (a relative default is relative to the
    working directory: callers that know the repository pass an absolute one). Does not check existence."""
    env = os.environ if environ is None else environ
    override = env.get(ENV_VAR, "").strip()
    if override:
        candidate = Path(override).expanduser()
        return candidate / PARAMS_FILENAME if candidate.is_dir() else candidate
    return Path(default)


def main(argv: list[str] | None = None) -> int:
    """``python -m nomos_da.params [PATH]``: write the test parameters to PATH (default: the resolved path)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else resolve_params_path()
    generate_params(target)
    print(f"wrote INSECURE test KZG parameters (tau = {SECRET}, {G1_POWERS} G1 / {G2_POWERS} G2 powers) to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

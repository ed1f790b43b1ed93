"""The KZG test parameters ("circuit assets") on the framework side: where they are, whether they load, and the
share codec of the da_inclusion expectation (docs/data-availability.md).

The parameters themselves (their deterministic generation from the reference's fixed secret, their file format,
loading) belong to the shared crypto library `nomos_da` (`nomos_da.params`); the framework may import that
library, never the node. `NOMOS_KZGRS_PARAMS_PATH` (a file, or a directory holding `kzgrs_test_params`)
overrides the default `<repo>/assets/kzgrs_test_params/kzgrs_test_params`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nomos_da import params as da_params
from nomos_da import share as da_share
from nomos_da import verifier as da_verifier
from nomos_testing import settings
from nomos_testing.errors import PrerequisiteError
from nomos_testing.runners.base import Check

PARAMS_FILE_NAME = da_params.PARAMS_FILENAME
DEFAULT_RELATIVE = da_params.DEFAULT_PARAMS_PATH
INSECURE_WARNING = ("INSECURE, TEST-ONLY: these KZG parameters are powers of a fixed, published secret "
                    f"(tau = {da_params.SECRET}); anyone can forge proofs with them. Never use them outside tests.")
SETUP_REMEDY = "generate them with `nomos-testing setup kzg` (`make test` / `make run` do it when missing)"


def repo_default_path() -> Path:
    """`<repo>/assets/kzgrs_test_params/kzgrs_test_params` of this checkout (or of the current directory)."""
    from nomos_testing.runners.shared.images import repo_root

    try:
        return repo_root() / DEFAULT_RELATIVE
    except PrerequisiteError:
        return Path.cwd() / DEFAULT_RELATIVE


def _as_file(path: Path) -> Path:
    return path / PARAMS_FILE_NAME if path.is_dir() else path


def as_target(text: str) -> Path:
    """A path as typed: a directory (existing, or written with a trailing slash) holds `kzgrs_test_params`."""
    path = Path(text).expanduser()
    return path / PARAMS_FILE_NAME if text.endswith(("/", "\\")) or path.is_dir() else path


def params_path(explicit: Path | None = None) -> Path:
    """Where the parameters are: `explicit` (a file, or a directory holding one), else NOMOS_KZGRS_PARAMS_PATH,
    else the default path."""
    if explicit is not None:
        return _as_file(explicit)
    configured = settings.raw("NOMOS_KZGRS_PARAMS_PATH")
    return _as_file(Path(configured).expanduser()) if configured else repo_default_path()


def existing_params() -> Path | None:
    """The parameters file when one exists (NOMOS_KZGRS_PARAMS_PATH, then the default path), else None."""
    configured = settings.raw("NOMOS_KZGRS_PARAMS_PATH")
    candidates = [_as_file(Path(configured).expanduser())] if configured else []
    candidates.append(repo_default_path())
    return next((path for path in candidates if path.is_file()), None)


def load(path: Path | None = None) -> da_params.KzgParams:
    """The loaded parameters; PrerequisiteError naming the path and the remedy when missing or corrupt."""
    target = params_path(path)
    try:
        return da_params.load_params(target)
    except da_params.ParamsError as exc:
        corrupt = target.is_file()
        raise PrerequisiteError(f"KZG parameters {'corrupt' if corrupt else 'missing'}: {exc}",
                                (f"remove {target} and " if corrupt else "") + SETUP_REMEDY) from None


def setup(path: Path | None = None) -> tuple[Path, bool]:
    """Generate the parameters at `path` (default: as `params_path`) unless a valid file is already there
    (idempotent; a corrupt file is replaced). Returns the file and whether it was written."""
    target = params_path(path)
    if target.is_file():
        try:
            da_params.load_params(target)
            return target, False
        except da_params.ParamsError:
            pass
    try:
        da_params.generate_params(target)
    except OSError as exc:
        raise PrerequisiteError(f"cannot write the KZG parameters to {target}: {exc.strerror or exc}",
                                "pass a writable --path, or fix the permissions") from None
    return target, True


def params_check() -> Check:
    """doctor / preflight for plans with a DA workload: the parameters exist and load."""
    try:
        load()
    except PrerequisiteError as exc:
        return Check("KZG parameters", False, exc.message, exc.remedy or SETUP_REMEDY)
    return Check("KZG parameters", True, f"{params_path()} (insecure test setup)")


def params_problem() -> str | None:
    """Why the KZG parameters would stop DA (missing or corrupt, with the path), or None when they load."""
    check = params_check()
    return None if check.ok else f"{check.detail} ({check.remedy})"


class NomosDaCodec:
    """Share verification and reconstruction by nomos_da (the da_inclusion expectation's ShareCodec)."""

    def __init__(self, params: da_params.KzgParams) -> None:
        self.params = params

    @classmethod
    def load(cls, path: Path | None = None) -> NomosDaCodec:
        return cls(load(path))

    def verify(self, share: Mapping[str, Any], num_columns: int | None = None) -> bool:
        try:
            parsed = da_share.Share.from_json(dict(share))
        except (ValueError, KeyError, TypeError):
            return False
        return da_verifier.verify_share(parsed, self.params, num_columns)

    def reconstruct(self, shares: Sequence[Mapping[str, Any]], original_size: int,
                    num_columns: int | None = None) -> bytes:
        return da_verifier.reconstruct([da_share.Share.from_json(dict(s)) for s in shares], original_size,
                                       num_columns)

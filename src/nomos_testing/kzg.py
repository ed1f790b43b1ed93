"""The KZG test parameters ("circuit assets") on the framework side: where they are, whether they load, and the
share codec of the da_inclusion expectation (docs/data-availability.md).

The parameters themselves (their deterministic generation from the reference's fixed secret, their file format,
loading) belong to the shared crypto library `nomos_da` (`nomos_da.params`); the framework may import that
library, never the node. `NOMOS_KZGRS_PARAMS_PATH` (a file, or a directory holding `kzgrs_test_params`)
overrides the default `<repo>/assets/kzgrs_test_params/kzgrs_test_params`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nomos_testing import settings
from nomos_testing.errors import PrerequisiteError

PARAMS_FILE_NAME = "kzgrs_test_params"
DEFAULT_RELATIVE = Path("assets") / "kzgrs_test_params" / PARAMS_FILE_NAME
INSECURE_WARNING = ("INSECURE, TEST-ONLY: these KZG parameters come from a fixed, published secret; anyone can "
                    "forge proofs with them. Never use them outside tests.")
SETUP_REMEDY = "generate them with `nomos-testing setup kzg` (or `make test` / `make run`)"


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PrerequisiteError(f"the crypto library module {name} is not available: {exc}",
                                "install the project (`make venv`, or `pip install -e .`)") from exc


def repo_default_path() -> Path:
    """`<repo>/assets/kzgrs_test_params/kzgrs_test_params` of this checkout (or of the current directory)."""
    from nomos_testing.runners.shared.images import repo_root

    try:
        return repo_root() / DEFAULT_RELATIVE
    except PrerequisiteError:
        return Path.cwd() / DEFAULT_RELATIVE


def _as_file(path: Path) -> Path:
    return path / PARAMS_FILE_NAME if path.is_dir() else path


def params_path(explicit: Path | None = None) -> Path:
    """Where the parameters are read from: `explicit`, else NOMOS_KZGRS_PARAMS_PATH, else the default path."""
    if explicit is not None:
        return _as_file(explicit)
    configured = settings.raw("NOMOS_KZGRS_PARAMS_PATH")
    return _as_file(Path(configured)) if configured else repo_default_path()


def existing_params() -> Path | None:
    """The parameters file when one exists (NOMOS_KZGRS_PARAMS_PATH, then the default path), else None."""
    configured = settings.raw("NOMOS_KZGRS_PARAMS_PATH")
    candidates = [_as_file(Path(configured))] if configured else []
    candidates.append(repo_default_path())
    return next((path for path in candidates if path.is_file()), None)


def load(path: Path | None = None) -> Any:
    """The loaded parameters (nomos_da.params.load_params); PrerequisiteError naming the path and the remedy."""
    target = params_path(path)
    params = _module("nomos_da.params")
    if not target.is_file():
        raise PrerequisiteError(f"KZG parameters missing: {target} does not exist", SETUP_REMEDY)
    try:
        return params.load_params(target)
    except PrerequisiteError:
        raise
    except Exception as exc:  # the library says what is wrong with the file; we add the path and the remedy
        raise PrerequisiteError(f"KZG parameters at {target} are corrupt: {exc}",
                                f"remove the file and {SETUP_REMEDY}") from exc


def setup(path: Path | None = None) -> tuple[Path, bool]:
    """Generate the parameters at `path` (default: as `params_path`) unless a valid file is already there.
    Returns the file and whether it was (re)generated."""
    target = params_path(path)
    if target.is_file():
        try:
            load(target)
            return target, False
        except PrerequisiteError:
            pass  # corrupt: regenerate
    target.parent.mkdir(parents=True, exist_ok=True)
    _module("nomos_da.params").generate_params(target)
    load(target)
    return target, True


class NomosDaCodec:
    """Share verification and reconstruction by nomos_da (the da_inclusion expectation's ShareCodec)."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self._verifier = _module("nomos_da.verifier")
        self._share = _module("nomos_da.share")

    @classmethod
    def load(cls, path: Path | None = None) -> NomosDaCodec:
        return cls(load(path))

    def _parse(self, share: Mapping[str, Any]) -> Any:
        return self._share.Share.from_json(dict(share))

    def verify(self, share: Mapping[str, Any]) -> bool:
        try:
            return bool(self._verifier.verify_share(self._parse(share), self.params))
        except (ValueError, KeyError, TypeError):
            return False

    def reconstruct(self, shares: Sequence[Mapping[str, Any]], original_size: int) -> bytes:
        data = self._verifier.reconstruct([self._parse(s) for s in shares], original_size)
        return bytes(data)

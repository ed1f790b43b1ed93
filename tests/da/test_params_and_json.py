"""nomos_da: the KZG parameters file (round trip, determinism, corrupt and missing files, path resolution)
and the strict JSON form of a share."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import pytest

from nomos_da import params as kzg_params
from nomos_da.encoder import encode
from nomos_da.params import (
    ENV_VAR,
    KzgParams,
    ParamsError,
    generate_params,
    load_params,
    resolve_params_path,
    spec_setup,
)
from nomos_da.share import Share, ShareFormatError

# Blake2b-256 of the generated file: generation must give the same bytes on every machine, every time.
PARAMS_FILE_BLAKE2B = "ccc17fadd69720f073ec9bacd6dd9978c040dd0a3ec688b1de769894d5b18077"


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_params(tmp_path_factory.mktemp("kzg") / "sub" / "kzgrs_test_params")


# ------------------------------------------------------------------------------------------ the file

def test_generate_then_load_gives_the_specification_setup(params_file: Path) -> None:
    loaded = load_params(params_file)
    setup = spec_setup()
    assert loaded.g1 == setup.g1 and loaded.g2 == setup.g2
    assert (len(loaded.g1), len(loaded.g2), loaded.secret) == (4096, 8, 1987)
    assert load_params(params_file) is loaded  # cached while the file is unchanged


def test_generation_is_deterministic_and_says_it_is_insecure(params_file: Path, tmp_path: Path) -> None:
    data = params_file.read_bytes()
    assert generate_params(tmp_path / "again").read_bytes() == data
    assert hashlib.blake2b(data, digest_size=32).hexdigest() == PARAMS_FILE_BLAKE2B
    assert data.startswith(b"NOMOSKZG") and b"INSECURE TEST-ONLY KZG SETUP" in data[:300]
    assert "INSECURE" in (kzg_params.__doc__ or "") and "INSECURE" in (generate_params.__doc__ or "")
    assert len(data) == 8 + 4 + len(kzg_params.NOTICE) + 12 + 4096 * 48 + 8 * 96 + 32


def _rewrite(path: Path, data: bytes, fix_checksum: bool) -> None:
    if fix_checksum:
        body = data[:-32]
        data = body + hashlib.blake2b(body, digest_size=32).digest()
    path.write_bytes(data)


@pytest.mark.parametrize(("change", "fix_checksum", "reason"), [
    ("flip-point", False, "checksum mismatch"),
    ("truncate", False, "checksum mismatch"),
    ("magic", False, "wrong magic"),
    ("version", True, "format version 2"),
    ("swap-points", True, "not powers of one secret"),
    ("bad-point", True, "does not decode"),
    ("empty", False, "wrong magic"),
])
def test_a_corrupt_file_is_refused_with_the_path_and_the_remedy(params_file: Path, tmp_path: Path, change: str,
                                                                fix_checksum: bool, reason: str) -> None:
    data = bytearray(params_file.read_bytes())
    header = 8 + 4 + len(kzg_params.NOTICE) + 12
    if change == "flip-point":
        data[header + 48 * 100 + 7] ^= 0x10
    elif change == "truncate":
        data = data[:-1000]
    elif change == "magic":
        data[0:8] = b"NOTKZG!!"
    elif change == "version":
        data[8:10] = struct.pack(">H", 2)
    elif change == "swap-points":
        a, b = header + 48 * 10, header + 48 * 11
        data[a:a + 48], data[b:b + 48] = data[b:b + 48], data[a:a + 48]
    elif change == "bad-point":
        data[header + 48 * 5: header + 48 * 6] = b"\x9f" + b"\xff" * 47
    elif change == "empty":
        data = bytearray()
    target = tmp_path / "kzgrs_test_params"
    _rewrite(target, bytes(data), fix_checksum)
    with pytest.raises(ParamsError) as caught:
        load_params(target)
    message = str(caught.value)
    assert str(target) in message and reason in message and "nomos-testing setup kzg" in message


def test_a_missing_file_is_refused_with_the_path_and_the_remedy(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "kzgrs_test_params"
    with pytest.raises(ParamsError) as caught:
        load_params(missing)
    assert str(missing) in str(caught.value) and "nomos-testing setup kzg" in str(caught.value)
    assert ENV_VAR in str(caught.value)
    with pytest.raises(ParamsError, match="not a file"):
        load_params(tmp_path)


def test_the_path_comes_from_the_environment_or_the_default(params_file: Path, tmp_path: Path) -> None:
    default = Path("assets/kzgrs_test_params/kzgrs_test_params")
    assert resolve_params_path(environ={}) == default
    assert resolve_params_path(tmp_path / "x", environ={ENV_VAR: "  "}) == tmp_path / "x"
    assert resolve_params_path(environ={ENV_VAR: str(params_file)}) == params_file
    assert resolve_params_path(environ={ENV_VAR: str(params_file.parent)}) == params_file
    assert resolve_params_path(environ={ENV_VAR: str(tmp_path / "new")}) == tmp_path / "new"


def test_the_module_command_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kzg_params.main([str(tmp_path / "p")]) == 0
    assert "INSECURE" in capsys.readouterr().out
    assert isinstance(load_params(tmp_path / "p"), KzgParams)


# ------------------------------------------------------------------------------------------ share JSON

@pytest.fixture(scope="module")
def share_json() -> dict[str, Any]:
    return encode(bytes(range(200)), 4, spec_setup()).shares[3].to_json()


def test_share_json_is_the_node_api_shape(share_json: dict[str, Any]) -> None:
    assert list(share_json) == ["blob_id", "share_idx", "column", "combined_column_proof", "rows_commitments"]
    assert share_json["share_idx"] == 3
    assert all(len(x) == 64 for x in share_json["column"]) and len(share_json["combined_column_proof"]) == 96
    assert len(share_json["blob_id"]) == 64 and all(len(c) == 96 for c in share_json["rows_commitments"])
    text = str(share_json)
    assert text == text.lower()
    assert Share.from_json(share_json).to_json() == share_json


def test_share_json_accepts_0x_and_upper_case(share_json: dict[str, Any]) -> None:
    loud = {**share_json, "blob_id": "0x" + share_json["blob_id"].upper(),
            "column": [x.upper() for x in share_json["column"]]}
    assert Share.from_json(loud) == Share.from_json(share_json)


@pytest.mark.parametrize(("change", "message"), [
    (lambda o: o.pop("column"), "missing field(s) column"),
    (lambda o: o.update(extra=1), "unknown field(s) extra"),
    (lambda o: o.update(share_idx=True), "share_idx"),
    (lambda o: o.update(share_idx=-1), "share_idx"),
    (lambda o: o.update(share_idx=4096), "share_idx"),
    (lambda o: o.update(share_idx="1"), "share_idx"),
    (lambda o: o.update(blob_id="zz" * 32), "blob_id: not hex"),
    (lambda o: o.update(blob_id="ab" * 31), "blob_id: expected 32 bytes"),
    (lambda o: o.update(blob_id=None), "blob_id: expected a hex string"),
    (lambda o: o.update(column="ab"), "column: expected a list"),
    (lambda o: o.update(column=o["column"][:-1]), "column: 3 elements but 4 rows_commitments"),
    (lambda o: o.update(column=["ff" * 32, *o["column"][1:]]), "column[0]: not a field element"),
    (lambda o: o.update(column=[*o["column"][:2], 7, o["column"][3]]), "column[2]: expected a hex string"),
    (lambda o: o.update(combined_column_proof="00" * 47), "combined_column_proof: expected 48 bytes"),
    (lambda o: o.update(rows_commitments=[*o["rows_commitments"][:3], "0x1"]), "rows_commitments[3]"),
    (lambda o: o.update(rows_commitments=[], column=[]), "rows_commitments: a blob has at least one row"),
])
def test_share_json_is_parsed_strictly(share_json: dict[str, Any], change: Any, message: str) -> None:
    obj = {key: (list(value) if isinstance(value, list) else value) for key, value in share_json.items()}
    change(obj)
    with pytest.raises(ShareFormatError) as caught:
        Share.from_json(obj)
    assert message in str(caught.value)
    with pytest.raises(ShareFormatError, match="JSON object"):
        Share.from_json([share_json])

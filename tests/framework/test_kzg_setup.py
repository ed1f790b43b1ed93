"""`nomos-testing setup kzg` (deterministic, idempotent, loud about being insecure, a corrupt file replaced),
where the parameters are looked for (NOMOS_KZGRS_PARAMS_PATH, then the default path) by the image hook and the
checks, `doctor` on a DA scenario (missing / corrupt parameters, POL_PROOF_DEV_MODE), a DA run stopped at
preflight with exit 2 naming the remedy, and the Makefile's file target."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomos_testing import kzg
from nomos_testing.cli import app
from nomos_testing.nodes.reference import image

REPO = Path(__file__).resolve().parents[2]
DA_SCENARIO = ('name = "da"\nduration = 10\n[topology]\nvalidators = 2\nexecutors = 1\n'
               '[[workloads]]\nkind = "da"\nblob_rate = 2\n')


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target, written = kzg.setup(tmp_path_factory.mktemp("kzg") / "kzgrs_test_params")
    assert written
    return target


def _invoke(args: list[str], **env: str | None) -> tuple[int, str]:  # None unsets a variable
    result = CliRunner().invoke(app, args, env={"NO_COLOR": "1", **env}, catch_exceptions=False)
    return result.exit_code, result.output


def test_setup_kzg_writes_once_prints_the_path_and_says_it_is_insecure(tmp_path: Path, params_file: Path) -> None:
    code, output = _invoke(["setup", "kzg", "--path", f"{tmp_path}/"])
    target = tmp_path / "kzgrs_test_params"
    assert code == 0, output
    assert f"wrote {target}" in output and "INSECURE, TEST-ONLY" in output and "tau = 1987" in output
    assert target.read_bytes() == params_file.read_bytes()  # deterministic
    stamp = target.stat().st_mtime_ns
    code, output = _invoke(["setup", "kzg", "--path", str(tmp_path)])  # a directory: the file in it
    assert code == 0 and f"already present: {target}" in output and "INSECURE" in output
    assert target.stat().st_mtime_ns == stamp
    target.write_bytes(target.read_bytes()[:-10])  # corrupt: replaced
    code, output = _invoke(["setup", "kzg", "--path", str(target)])
    assert code == 0 and f"wrote {target}" in output
    assert target.read_bytes() == params_file.read_bytes()


def test_setup_kzg_without_path_writes_where_nomos_kzgrs_params_path_points(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    code, output = _invoke(["setup", "kzg"], NOMOS_KZGRS_PARAMS_PATH=str(tmp_path / "dir"))
    assert code == 0, output
    assert (tmp_path / "dir" / "kzgrs_test_params").is_file()


def test_lookup_order_image_hook_and_checks(tmp_path: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    default = tmp_path / "assets" / "kzgrs_test_params" / "kzgrs_test_params"
    monkeypatch.setattr(kzg, "repo_default_path", lambda: default)
    monkeypatch.delenv("NOMOS_KZGRS_PARAMS_PATH", raising=False)
    assert image._kzg_params_source() is None  # the image would be labelled kzg-params=absent
    check = kzg.params_check()
    assert not check.ok and str(default) in check.detail and "nomos-testing setup kzg" in check.remedy
    kzg.setup()  # the default path
    assert image._kzg_params_source() == default and kzg.params_check().ok
    monkeypatch.setenv("NOMOS_KZGRS_PARAMS_PATH", str(params_file.parent))  # a directory holding the file
    assert image._kzg_params_source() == params_file and kzg.params_path() == params_file
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(b"NOMOSKZG" + b"\0" * 100)
    monkeypatch.setenv("NOMOS_KZGRS_PARAMS_PATH", str(corrupt))
    check = kzg.params_check()
    assert not check.ok and "corrupt" in check.detail and str(corrupt) in check.detail
    assert f"remove {corrupt}" in check.remedy


def test_doctor_on_a_da_scenario_names_the_two_prerequisites(tmp_path: Path, params_file: Path) -> None:
    scenario = tmp_path / "da.toml"
    scenario.write_text(DA_SCENARIO, encoding="utf-8")
    code, output = _invoke(["doctor", str(scenario)], NOMOS_KZGRS_PARAMS_PATH=str(tmp_path / "missing"),
                           POL_PROOF_DEV_MODE=None)
    assert code == 2
    assert "KZG parameters" in output and str(tmp_path / "missing") in output and "setup kzg" in output
    assert "POL_PROOF_DEV_MODE" in output and "unset" in output
    code, output = _invoke(["doctor", str(scenario)], NOMOS_KZGRS_PARAMS_PATH=str(params_file),
                           POL_PROOF_DEV_MODE="true")
    assert "KZG parameters" in output and str(params_file) in output
    assert "KZG parameters missing" not in output
    plain = tmp_path / "plain.toml"
    plain.write_text('name = "plain"\nduration = 10\n[topology]\nvalidators = 1\n', encoding="utf-8")
    code, output = _invoke(["doctor", str(plain)], NOMOS_KZGRS_PARAMS_PATH=str(tmp_path / "missing"),
                           POL_PROOF_DEV_MODE="true")
    assert "KZG parameters" not in output  # only a DA scenario needs them


def test_a_da_run_without_parameters_stops_at_preflight_with_the_remedy(tmp_path: Path) -> None:
    scenario = tmp_path / "da.toml"
    scenario.write_text(DA_SCENARIO, encoding="utf-8")
    code, output = _invoke(["run", str(scenario), "--out", str(tmp_path / "out")],
                           NOMOS_KZGRS_PARAMS_PATH=str(tmp_path / "missing"), POL_PROOF_DEV_MODE="true")
    assert code == 2, output
    assert "KZG parameters missing" in output and "nomos-testing setup kzg" in output
    assert not (tmp_path / "out" / "events.jsonl").exists()


def test_make_generates_the_parameters_as_a_file_target() -> None:
    # --no-print-directory: under `make test` the sub-make would add "Entering/Leaving directory" lines
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-B", "assets/kzgrs_test_params/kzgrs_test_params"],
                         cwd=REPO,
                         capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip().splitlines()[-1] == (
        ".venv/bin/nomos-testing setup kzg --path assets/kzgrs_test_params/kzgrs_test_params")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "run: $(STAMP) $(KZG_PARAMS)" in makefile and "test: $(STAMP) $(KZG_PARAMS)" in makefile
    ignored = subprocess.run(["git", "check-ignore", "-q", "assets/kzgrs_test_params/kzgrs_test_params"], cwd=REPO)
    assert ignored.returncode == 0, "the generated parameters must be gitignored"

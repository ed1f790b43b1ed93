"""docs/transactions.md and the transaction parts of docs/node-api.md, node.md, scenarios.md against the code:
the worked example is what both implementations (the node's ledger, the framework's adapter) compute, the
refusal codes and HTTP statuses, limits, defaults and metric names are the code's, the scenario examples
validate and describe scenarios/transactions.toml, the sample verdict has the expectation's wording, the
input error is what the CLI prints, and the links between the docs resolve. Fast: no node is started."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nomos_testing.scenario.files import parse_scenario, read_scenario
from nomos_testing.scenario.plan import ScenarioPlan
from tests.docs.doc_commands import REPO, Block, fenced_blocks
from tests.docs.sample_output import normalize

DOCS = REPO / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _blocks(name: str, lang: str) -> list[Block]:
    return [block for block in fenced_blocks(DOCS / name) if block.lang == lang]


def _section(text: str, heading: str) -> str:
    """The body of the markdown section `heading` (up to the next heading of the same or a higher level)."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n") + len(heading) + 1
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M)
    match = following.search(text, start)
    return text[start: match.start() if match else len(text)]


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row of `text` (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line.replace("|", "").strip()) <= {"-", " "}:
            continue
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return [row for row in rows if row and row[0] not in {"reason", "`error`", "metric", "key", "field"}]


# ------------------------------------------------------------------------------------- the worked example

def test_the_worked_example_is_what_the_framework_and_the_node_compute() -> None:
    from nomos_node.codec import canonical_json
    from nomos_node.config import WalletNote
    from nomos_node.ledger import Ledger, parse_transaction
    from nomos_testing.nodes.reference import transactions as txs
    from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter

    (values_block, canonical_block) = [b for b in _blocks("transactions.md", "text")
                                       if b.body.startswith(("wallet 0 secret key", '{"fee":1'))]
    values = dict(re.findall(r"^(.+?)\s{2,}([0-9a-f]{64,})$", values_block.body, re.M))
    (submitted,) = _blocks("transactions.md", "json")
    document = json.loads(submitted.body)

    # the framework: wallets from seed 42, the genesis notes, the signed transfer
    adapter = ReferenceNodeAdapter()
    wallets = [adapter.wallet(42, i, 100) for i in range(2)]
    assert values["wallet 0 secret key"] == wallets[0].secret_key
    assert (values["wallet 0 pk"], values["wallet 1 pk"]) == (wallets[0].pk, wallets[1].pk)
    wallet_notes = [{"value": w.value, "pk": w.pk} for w in wallets]
    assert values["genesis tx hash"] == txs.tx_hash(txs.genesis_tx(wallet_notes))
    assert [values["wallet 0 note id"], values["wallet 1 note id"]] == txs.genesis_note_ids(wallet_notes)
    tx, digest = txs.build_transfer([(values["wallet 0 note id"], wallets[0].secret_key)],
                                    [(1, wallets[1].pk), (98, wallets[0].pk)], fee=1)
    assert tx == document, "the json block is not the transfer the framework builds"
    assert values["transfer tx hash"] == digest
    assert [values["output 0 note id"], values["output 1 note id"]] == [txs.note_id(digest, i) for i in range(2)]
    unsigned = {key: value for key, value in document.items() if key != "signatures"}
    assert canonical_block.body.strip() == txs.canonical_json(unsigned).decode()

    # the node: the same genesis notes, and the document is valid on them (signature, balance) with that hash
    ledger = Ledger("00" * 32, [WalletNote(w.value, w.pk) for w in wallets])
    assert ledger.genesis_tx_hash.hex() == values["genesis tx hash"]
    assert set(ledger.unspent()) == {values["wallet 0 note id"], values["wallet 1 note id"]}
    assert ledger.genesis_supply == 200
    parsed = parse_transaction(document)
    assert parsed.hash == values["transfer tx hash"]
    assert canonical_json(unsigned).decode() == canonical_block.body.strip()
    ledger.check(parsed, ledger.view())
    assert parsed.output_ids() == [values["output 0 note id"], values["output 1 note id"]]


# ------------------------------------------------------------------------ refusal codes, limits, metrics

def _reasons_in(rows: list[list[str]]) -> dict[str, int]:
    return {row[0].strip("`"): int(row[1]) for row in rows}


# the refusal reasons of a transfer (issue 9): every page lists these; node-api.md lists every reason the node has
TRANSFER_REASONS = {"malformed", "too_large", "unknown_input", "double_spend", "bad_signature", "overspend",
                    "mempool_full"}


def test_the_refusal_reasons_and_statuses_are_the_codes() -> None:
    from nomos_node.ledger.transaction import HTTP_STATUS, TxReason

    expected = {str(reason): status for reason, status in HTTP_STATUS.items()}
    assert set(expected) == {str(reason) for reason in TxReason} >= TRANSFER_REASONS
    api = _section(_text("node-api.md"), "## Transactions")
    add_tx = _reasons_in(_table_rows(api[: api.index("**`POST /mantle/status`**")]))
    assert set(add_tx) >= TRANSFER_REASONS, "docs/node-api.md's table of /mempool/add/tx errors"
    # every reason the node has, with its status, in some table of the API contract
    everywhere = {row[0].strip("`"): row[1] for row in _table_rows(_text("node-api.md")) if len(row) > 1}
    missing = {code: status for code, status in expected.items() if everywhere.get(code) != str(status)}
    assert not missing, f"docs/node-api.md: no table row `| `code` | status |` for {missing} (TxReason, HTTP_STATUS)"
    transactions_md = _reasons_in(_table_rows(_section(_text("transactions.md"), "## Validity")))
    node_md = _section(_text("node.md"), "## HTTP API")
    stated = {code: int(status) for code, status in re.findall(r"`([a-z_]+)` \((\d{3})", node_md)
              if code in expected}
    for where, shown in (("docs/node-api.md", add_tx), ("docs/transactions.md's table of reasons", transactions_md),
                         ("docs/node.md", stated)):
        assert set(shown) >= TRANSFER_REASONS, f"{where} lacks {sorted(TRANSFER_REASONS - set(shown))}"
        wrong = {code: status for code, status in shown.items() if expected.get(code) != status}
        assert not wrong, f"{where}: {wrong}, the node answers {expected}"


def test_the_stated_limits_and_defaults_are_the_code() -> None:
    from nomos_node.api.mantle import MAX_NOTES, MAX_STATUS_QUERY
    from nomos_node.api.server import MAX_BODY_BYTES
    from nomos_node.config import MempoolConfig
    from nomos_node.consensus.block import MAX_TRANSACTIONS
    from nomos_node.ledger import mempool, transaction
    from nomos_testing.scenario.plan import DEFAULT_WALLET_VALUE
    from nomos_testing.workloads import transactions as workload

    assert (transaction.MAX_INPUTS, transaction.MAX_OUTPUTS, transaction.MAX_TX_BYTES) == (16, 16, 4096)
    assert transaction.MAX_AMOUNT == 2**63 - 1
    assert MAX_TRANSACTIONS == 1024 and MAX_BODY_BYTES == 1024 * 1024
    assert MempoolConfig() == MempoolConfig(max_pending=10_000, max_block_transactions=1024)
    assert mempool.DEFAULT_MAX_PENDING == 10_000 and mempool.REJECTED_MEMORY == 10_000
    assert MAX_STATUS_QUERY == MAX_NOTES == 10_000
    assert DEFAULT_WALLET_VALUE == 100
    assert (workload.SPLIT_BELOW, workload.MAX_DUST_INPUTS, workload.STALE_BLOCKS, workload.TICK_S) == (4, 3, 30, 0.02)
    text = " ".join(_text("transactions.md").split())
    for phrase in ("a list of 1 to 16 note ids", "a list of 1 to 16 objects", "at most 4096 bytes",
                   "an integer from 1 to 2^63 − 1", "an integer from 0 to 2^63 − 1", "at most 1024 transactions",
                   "(default 10,000)", "(default 1024, at most the block limit of 1024",
                   "remembers the last 10,000 of these", "(100 unless the scenario says otherwise)", "Every 20 ms",
                   "at most 16 inputs", "up to 3 small notes", "fewer than 4 notes",
                   "30 block intervals (at least 30 s)",
                   "Whatever the reason (`unknown_input`, `double_spend`, `mempool_full`, an unreachable node, …)",
                   "request body over 1 MiB"):
        assert phrase in text, f"docs/transactions.md no longer says {phrase!r}"
    api = " ".join(_text("node-api.md").split())
    for phrase in ("a JSON list of at most 10,000 tx hashes", "at most `limit` (1–10,000, default 10,000)",
                   "the last 10,000 such", "1–16 inputs, 1–16 outputs", "or a body over 1 MiB"):
        assert phrase in api, f"docs/node-api.md no longer says {phrase!r}"


def _exported_metrics() -> dict[str, str]:
    """{name as exported: type} of the node's transaction metrics."""
    from nomos_node.metrics import NodeMetrics

    metrics = NodeMetrics()
    metrics.mempool_added.labels(source="api")
    metrics.mempool_rejected.labels(reason="malformed", source="api")
    metrics.mempool_dropped.labels(reason="double_spend")
    exposition = metrics.exposition().decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M))
    return {name: kind for name, kind in types.items()
            if name.startswith(("mempool_", "transactions_")) and not name.endswith("_created")}


def test_the_metric_tables_list_the_node_transaction_metrics() -> None:
    exported = _exported_metrics()
    assert len(exported) == 6, exported
    rows = _table_rows(_section(_text("node-api.md"), "## Metrics"))
    assert {row[0].strip("`"): row[1] for row in rows} == exported, "docs/node-api.md's metrics table"
    node_md = _section(_text("node.md"), "## Metrics (`GET /metrics`, Prometheus text format, the node's own registry)")
    listed = {re.sub(r"\{.*", "", row[0].strip("`")): row[1] for row in _table_rows(node_md)}
    for name, kind in exported.items():
        assert listed.get(name) == kind, f"docs/node.md's metrics table: {name} ({kind})"


# ----------------------------------------------------------------------------- scenarios and the builder

def _defaults_table(section: str, title: str) -> dict[str, str]:
    start = section.index(title)
    rows = _table_rows(section[start: section.index("\n\n", section.index("|---", start))])
    return {row[0].strip("`"): row[1] for row in rows}


def assert_defaults_documented(section: str, title: str, component: Any) -> None:
    """The table under `title` lists exactly `component`'s parameters, each with the default its schema has."""
    kind = component.kind
    documented = _defaults_table(section, title)
    schema = {param.name: param for param in component.params.params}
    assert set(documented) == set(schema), f"docs/scenarios.md: the {kind} table's keys"
    for name, param in schema.items():
        shown = documented[name]
        if param.default is None:
            assert not re.fullmatch(r"[\d.]+", shown), f"{kind}.{name}: documented {shown}, no default in code"
        else:
            assert float(shown) == float(param.default), f"{kind}.{name}: documented {shown}, code {param.default}"


@pytest.mark.parametrize("kind", ["transactions", "tx_inclusion"])
def test_scenarios_md_lists_every_parameter_with_its_default(kind: str) -> None:
    from nomos_testing.plugins import default_registries

    registries = default_registries()
    component = (registries.workloads if kind == "transactions" else registries.expectations).get(kind)
    section = _section(_text("scenarios.md"), "## Transactions")
    title = "**The `transactions` workload**" if kind == "transactions" else "**The `tx_inclusion` expectation**"
    assert_defaults_documented(section, title, component)


def _plan_fields(plan: ScenarioPlan) -> dict[str, Any]:
    return {"name": plan.name, "topology": plan.topology, "wallets": plan.wallets, "value": plan.wallet_value,
            "duration": plan.duration_s, "slot": plan.slot_duration, "f": plan.active_slot_coeff,
            "k": plan.security_param, "workloads": [(w.kind, dict(w.params)) for w in plan.workloads],
            "expectations": sorted(e.kind for e in plan.expectations)}


def test_transactions_md_shows_scenarios_transactions_toml_and_the_same_plan_in_python() -> None:
    from nomos_testing.scenario.validate import validate_plan

    (shown,) = [b.body for b in _blocks("transactions.md", "toml")]
    path = REPO / "scenarios" / "transactions.toml"
    real = path.read_text(encoding="utf-8")
    assert tomllib.loads(shown) == tomllib.loads(real), "docs/transactions.md shows another scenarios/transactions.toml"
    file_plan = read_scenario(real, path)
    validate_plan(file_plan)
    python = [b.body for b in _blocks("transactions.md", "python") if "ScenarioBuilder" in b.body]
    assert len(python) == 1
    namespace: dict[str, Any] = {}
    exec(compile(python[0], "docs/transactions.md", "exec"), namespace)
    assert _plan_fields(namespace["plan"]) == _plan_fields(file_plan)


def test_scenarios_md_transaction_examples_validate(tmp_path: Path) -> None:
    section = _section(_text("scenarios.md"), "## Transactions")
    tomls = [b.body for b in _blocks("scenarios.md", "toml") if b.body in section]
    assert len(tomls) == 1
    head = 'name = "tx"\nduration = 30\n[topology]\nvalidators = 3\nexecutors = 1\n'
    plan = parse_scenario(head + tomls[0], tmp_path / "doc.toml")
    assert plan.wallets == 50
    assert [(w.kind, dict(w.params)) for w in plan.workloads] == \
        [("transactions", {"rate": 5, "users": 20, "fee": 1, "min_share": 0.9})]
    pythons = [b.body for b in _blocks("scenarios.md", "python") if b.body in section]
    assert len(pythons) == 1
    namespace: dict[str, Any] = {}
    exec(compile(pythons[0], "docs/scenarios.md", "exec"), namespace)
    assert [(w.kind, dict(w.params)) for w in namespace["plan"].workloads] == \
        [("transactions", {"rate": 5, "users": 20})]
    assert [(w.kind, dict(w.params)) for w in namespace["open_loop"].workloads] == \
        [("transactions", {"tx_per_s": 50, "fee": 0, "amount": 2, "min_share": 0.95, "seed": 7})]
    assert (namespace["open_loop"].wallets, namespace["open_loop"].wallet_value) == (200, 1000)
    assert _plan_fields(namespace["same"])["workloads"] == _plan_fields(namespace["plan"])["workloads"]


def test_the_documented_input_error_is_what_the_cli_prints(tmp_path: Path) -> None:
    from nomos_testing.cli import app

    (error,) = [b.body.strip() for b in _blocks("transactions.md", "text") if b.body.startswith("error:")]
    path = tmp_path / "tx.toml"
    path.write_text('name = "tx"\nduration = 10\n[topology]\nvalidators = 1\n[[workloads]]\nkind = "transactions"\n',
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")],
                                env={"POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1", "COLUMNS": "300"},
                                catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert error in " ".join(result.output.split()), result.output


async def test_the_sample_verdict_has_the_expectation_s_wording(tmp_path: Path) -> None:
    """The rows of docs/transactions.md's sample console table read as the message tx_inclusion writes."""
    import asyncio

    from nomos_testing.workloads.transactions import Transactions
    from tests.framework.test_transactions_workload import a_context, produce_blocks

    sample = next(b.body for b in _blocks("transactions.md", "text") if "tx_inclusion" in b.body)
    cells = [line.strip().strip("│").split("│") for line in sample.splitlines() if line.strip().startswith("│")]
    assert cells and cells[0][0].strip() == "tx_inclusion" and cells[0][1].strip() == "PASS"
    message = " ".join(cell[2].strip() for cell in cells)

    ctx, node = a_context(wallets=3, duration=1.0, tmp_path=tmp_path)
    workload = Transactions(tx_per_s=20, users=3, fee=1)
    (expectation,) = workload.expectations()
    producer = asyncio.create_task(produce_blocks(node, 0.2))
    try:
        await workload.start(ctx)
        await asyncio.sleep(0.5)
    finally:
        producer.cancel()
    outcome = await expectation.evaluate(ctx)
    assert outcome.passed, outcome.message
    assert normalize(message) == normalize(outcome.message)


# ---------------------------------------------------------------------------------------------- links

def _slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    outside_code = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return {_slug(title) for title in re.findall(r"^#{1,6} (.+)$", outside_code, re.M)}


@pytest.mark.parametrize("name", ["transactions.md", "node-api.md", "node.md", "node-config.md", "scenarios.md",
                                  "consensus.md", "architecture.md"])
def test_links_between_the_docs_resolve(name: str) -> None:
    text = _text(name)
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        path = DOCS / name if not file else (DOCS / file)
        if not path.exists():
            problems.append(f"{target}: no file {path.relative_to(REPO)}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            problems.append(f"{target}: no heading with the anchor #{anchor} in {path.name}")
    assert not problems, f"docs/{name}: " + "; ".join(problems)

"""The reference node's adapter: its keys (docs/node-config.md), YAML config, binaries, image and API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from nomos_testing import settings
from nomos_testing.nodes.base import (
    ChannelMessage,
    NodeAdapter,
    NodeAddresses,
    NodeImage,
    Note,
    SignedOp,
    SignedTransfer,
)
from nomos_testing.nodes.binaries import Resolution, find_binary
from nomos_testing.nodes.reference import keys, transactions
from nomos_testing.nodes.reference.config import node_config
from nomos_testing.runners.shared.docker import image_labels
from nomos_testing.topology.model import NodeIdentity, Role, WalletAccount

if TYPE_CHECKING:
    from nomos_testing.scenario.plan import ScenarioPlan
    from nomos_testing.topology.model import GeneratedTopology

STAKE_PER_NODE = 1000
EPOCH_DEFAULTS = {"stake_distribution_stabilization": 3, "period_nonce_buffer": 3, "period_nonce_stabilization": 4}
BINARY_BY_ROLE = {Role.VALIDATOR: "nomos-node", Role.EXECUTOR: "nomos-executor"}
BINARY_ENV_BY_ROLE = {Role.VALIDATOR: "NOMOS_NODE_BIN", Role.EXECUTOR: "NOMOS_EXECUTOR_BIN"}
PASSED_THROUGH = ("NOMOS_LOG_LEVEL", "NOMOS_LOG_FILTER")
LISTEN_FDS_VARIABLE = "NOMOS_LISTEN_FDS"  # api=<fd>,testing_api=<fd>,network=<fd> (docs/node-config.md)


class ReferenceNodeAdapter(NodeAdapter):
    name: ClassVar[str] = "reference"

    def node_identity(self, seed: int, name: str, role: Role, index: int, ordinal: int) -> NodeIdentity:
        key_seed = keys.node_key_seed(seed, name)
        return NodeIdentity(name=name, role=role, index=index, ordinal=ordinal, stake=STAKE_PER_NODE,
                            keys={"key_seed": key_seed.hex(), "signing_pk": keys.signing_pk(key_seed),
                                  "vrf_pk": keys.vrf_pk(key_seed)})

    def wallet(self, seed: int, index: int, value: int) -> WalletAccount:
        secret = keys.wallet_secret(seed, index)
        return WalletAccount(index=index, secret_key=secret.hex(), pk=keys.ed25519_public(secret).hex(), value=value)

    def genesis(self, plan: ScenarioPlan, nodes: tuple[NodeIdentity, ...],
                wallets: tuple[WalletAccount, ...]) -> dict[str, Any]:
        return {
            "slot_duration": plan.slot_duration,
            "active_slot_coeff": plan.active_slot_coeff,
            "security_param": plan.security_param,
            "epoch": dict(EPOCH_DEFAULTS),
            "stake_notes": [{"value": n.stake, "vrf_pk": n.keys["vrf_pk"], "signing_pk": n.keys["signing_pk"]}
                            for n in nodes],
            "wallet_notes": [{"value": w.value, "pk": w.pk} for w in wallets],
        }

    def render_config(self, topology: GeneratedTopology, node: NodeIdentity, addresses: Mapping[str, NodeAddresses],
                      chain_start_time: float, data_dir: str) -> str:
        config = node_config(topology, node, addresses, chain_start_time, data_dir)
        return yaml.safe_dump(config, sort_keys=False)

    def binary_name(self, role: Role) -> str:
        return BINARY_BY_ROLE[role]

    def resolve_binary(self, role: Role) -> Resolution:
        return find_binary(BINARY_BY_ROLE[role], BINARY_ENV_BY_ROLE[role],
                           "install the project (`make venv`, or `pip install -e .`)")

    def log_file_name(self, node: NodeIdentity) -> str:
        return f"{BINARY_BY_ROLE[node.role]}-{node.index}.log"

    def environment(self) -> dict[str, str]:
        # An empty hand-over variable means "bind the config's addresses": a value inherited from the
        # framework's own environment must never reach a node that was not handed sockets.
        env = {"POL_PROOF_DEV_MODE": "true" if settings.pol_dev_mode() else "false", LISTEN_FDS_VARIABLE: ""}
        env.update({name: value for name in PASSED_THROUGH if (value := settings.raw(name)) is not None})
        return env

    def log_dir_environment(self, logs_dir: Path) -> dict[str, str]:
        return {"NOMOS_LOG_DIR": str(logs_dir)}

    def socket_handover(self, fds: Mapping[str, int]) -> dict[str, str]:
        return {LISTEN_FDS_VARIABLE: ",".join(f"{name}={fd}" for name, fd in fds.items())}

    def image(self) -> NodeImage:
        from nomos_testing.nodes.reference import image

        return NodeImage(tag=image.node_image_tag(), ensure=image.ensure_node_image,
                         build=lambda log: image.build_node_image(force=True, log=log),
                         labels=lambda: image_labels(image.node_image_tag()))

    # Transactions: nodes/reference/transactions.py -------------------------------------------------

    supports_transactions: ClassVar[bool] = True

    def transfer(self, inputs: Sequence[tuple[Note, str]], outputs: Sequence[tuple[int, str]],
                 fee: int) -> SignedTransfer:
        tx, digest = transactions.build_transfer([(note.note_id, secret) for note, secret in inputs], outputs, fee)
        created = tuple(Note(transactions.note_id(digest, i), int(value), pk) for i, (value, pk) in enumerate(outputs))
        return SignedTransfer(tx, digest, int(fee), created)

    def tx_hash(self, tx: Mapping[str, Any]) -> str:
        return transactions.tx_hash(tx)

    def tx_fee(self, tx: Mapping[str, Any]) -> int:
        fee = tx.get("fee", 0)
        return fee if isinstance(fee, int) and not isinstance(fee, bool) else 0

    def note_id(self, tx_hash: str, index: int) -> str:
        return transactions.note_id(tx_hash, index)

    def block_transactions(self, block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        txs = block.get("transactions") or []
        return [tx for tx in txs if isinstance(tx, Mapping)] if isinstance(txs, list) else []

    def genesis_notes(self, topology: GeneratedTopology) -> list[Note]:
        notes = topology.genesis.get("wallet_notes") or []
        ids = transactions.genesis_note_ids(notes)
        return [Note(note_id, int(n["value"]), str(n["pk"])) for note_id, n in zip(ids, notes, strict=True)]

    # Data availability: channel operations (nodes/reference/transactions.py) ----------------------

    supports_da: ClassVar[bool] = True

    def da_signer(self) -> str:
        return transactions.test_signer_pk()

    def first_parent(self) -> str:
        return transactions.ZERO_MSG_ID

    def channel_inscription(self, channel: str, inscription: bytes, parent: str) -> SignedOp:
        op = transactions.channel_inscribe_op(channel, inscription, parent, self.da_signer())
        tx, digest = transactions.build_op_tx([(op, transactions.TEST_SIGNER_SECRET)])
        return SignedOp(tx, digest, transactions.msg_id(op))

    def blob_msg_id(self, channel: str, blob_id: str, blob_size: int, parent: str) -> str:
        return transactions.msg_id(transactions.channel_blob_op(channel, blob_id, blob_size, parent, self.da_signer()))

    def channel_messages(self, tx: Mapping[str, Any]) -> list[ChannelMessage]:
        ops = tx.get("ops") or []
        found: list[ChannelMessage] = []
        for op in ops if isinstance(ops, list) else []:
            if not isinstance(op, Mapping) or not isinstance(op.get("channel"), str):
                continue
            kind = op.get("type")
            parent = str(op.get("parent", ""))
            if kind == transactions.CHANNEL_INSCRIBE:
                found.append(ChannelMessage("inscribe", op["channel"], transactions.msg_id(op), parent))
            elif kind == transactions.CHANNEL_BLOB:
                size = op.get("blob_size")
                found.append(ChannelMessage("blob", op["channel"], transactions.msg_id(op), parent,
                                            str(op.get("blob", "")), size if isinstance(size, int) else None))
        return found

    def container_environment(self, labels: Mapping[str, str]) -> dict[str, str]:
        from nomos_testing.nodes.reference import image

        if labels.get(image.KZG_LABEL) == "present":
            return {"NOMOS_KZGRS_PARAMS_PATH": image.KZG_PARAMS_IN_IMAGE}
        return {}

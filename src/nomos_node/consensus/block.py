"""Block and header shapes (docs/node-api.md), ids, block roots, signatures and strict JSON parsing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nomos_node.codec import canonical_json, is_hex, strip_0x
from nomos_node.config import GenesisConfig
from nomos_node.crypto.hashing import ZERO_HASH, blake2b_256, merkle_root
from nomos_node.crypto.keys import NodeKeys, verify_ed25519

ZERO_ID = ZERO_HASH.hex()
_LEADER_FIELDS = ("key", "vrf_pk", "note", "vrf_output", "vrf_proof", "proof")
_HEADER_FIELDS = ("id", "parent", "slot", "height", "block_root", "leader")
_BLOCK_FIELDS = ("header", "signature", "transactions")
MAX_TRANSACTIONS = 1024


class BlockFormatError(ValueError):
    """A block document does not have the required shape; the message names the field."""

    def __init__(self, field_path: str, problem: str) -> None:
        self.field = field_path
        super().__init__(f"block.{field_path}: {problem}")


@dataclass(frozen=True)
class Leader:
    key: str  # Ed25519 signing public key, hex
    vrf_pk: str  # BLS12-381 G1 compressed, hex
    note: str  # id of the ledger note that won (owned by ``key``, in the epoch's stake distribution snapshot)
    vrf_output: str  # 32 bytes hex: the lottery ticket
    vrf_proof: str  # 96 bytes hex: the BLS signature
    proof: str  # PoL nonce (16 hex chars) or "" in dev mode

    @classmethod
    def empty(cls) -> Leader:
        return cls("", "", "", "", "", "")

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _LEADER_FIELDS}


@dataclass(frozen=True)
class Header:
    id: str
    parent: str
    slot: int
    height: int
    block_root: str
    leader: Leader

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "slot": self.slot,
            "height": self.height,
            "block_root": self.block_root,
            "leader": self.leader.to_json(),
        }

    def compute_id(self) -> str:
        """Blake2b-256 over the canonical JSON of the header without its id."""
        body = self.to_json()
        del body["id"]
        return blake2b_256(canonical_json(body)).hex()

    def with_computed_id(self) -> Header:
        return replace(self, id=self.compute_id())


@dataclass(frozen=True)
class Block:
    header: Header
    signature: str
    transactions: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def id(self) -> str:
        return self.header.id

    @property
    def parent(self) -> str:
        return self.header.parent

    @property
    def slot(self) -> int:
        return self.header.slot

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def vrf_output(self) -> str:
        return self.header.leader.vrf_output

    def to_json(self) -> dict[str, Any]:
        return {
            "header": self.header.to_json(),
            "signature": self.signature,
            "transactions": [dict(tx) for tx in self.transactions],
        }

    @classmethod
    def from_json(cls, document: Any) -> Block:
        """Strictly parse a block document; any deviation raises :class:`BlockFormatError` naming the field."""
        doc = _mapping(document, "", _BLOCK_FIELDS)
        header_doc = _mapping(doc["header"], "header", _HEADER_FIELDS)
        leader_doc = _mapping(header_doc["leader"], "header.leader", _LEADER_FIELDS)
        is_genesis = header_doc.get("parent") == ZERO_ID and header_doc.get("height") == 0
        leader_lengths = {"key": 32, "vrf_pk": 48, "note": 32, "vrf_output": 32, "vrf_proof": 96}
        leader_values = {
            name: _hex_field(leader_doc[name], f"header.leader.{name}", None if is_genesis else n_bytes, is_genesis)
            for name, n_bytes in leader_lengths.items()
        }
        proof = leader_doc["proof"]
        if not isinstance(proof, str) or (proof and not is_hex(proof)):
            raise BlockFormatError("header.leader.proof", 'expected "" or a hex string')
        header = Header(
            id=_hex_field(header_doc["id"], "header.id", 32),
            parent=_hex_field(header_doc["parent"], "header.parent", 32),
            slot=_non_negative_int(header_doc["slot"], "header.slot"),
            height=_non_negative_int(header_doc["height"], "header.height"),
            block_root=_hex_field(header_doc["block_root"], "header.block_root", 32),
            leader=Leader(proof=strip_0x(proof).lower(), **leader_values),
        )
        signature = _hex_field(doc["signature"], "signature", None if is_genesis else 64, allow_empty=is_genesis)
        transactions = doc["transactions"]
        if not isinstance(transactions, list) or len(transactions) > MAX_TRANSACTIONS:
            raise BlockFormatError("transactions", f"expected a list of at most {MAX_TRANSACTIONS} transactions")
        for i, tx in enumerate(transactions):
            if not isinstance(tx, Mapping):
                raise BlockFormatError(f"transactions[{i}]", "expected a transaction object")
            try:
                canonical_json(tx)
            except (TypeError, ValueError, RecursionError) as exc:
                raise BlockFormatError(f"transactions[{i}]", f"not encodable canonically: {exc}") from None
        return cls(header=header, signature=signature, transactions=tuple(transactions))


def transaction_hash(tx: Mapping[str, Any]) -> bytes:
    """Blake2b-256 over the canonical encoding of the transaction without its signatures."""
    return blake2b_256(canonical_json({k: v for k, v in tx.items() if k != "signatures"}))


def block_root(transactions: Sequence[Mapping[str, Any]]) -> str:
    return merkle_root([transaction_hash(tx) for tx in transactions]).hex()


def genesis_block(genesis: GenesisConfig) -> Block:
    """The same genesis block on every node given the same genesis section."""
    header = Header(
        id="",
        parent=ZERO_ID,
        slot=0,
        height=0,
        block_root=blake2b_256(genesis.canonical_bytes()).hex(),
        leader=Leader.empty(),
    ).with_computed_id()
    return Block(header=header, signature="", transactions=())


def sign_header(header: Header, keys: NodeKeys) -> str:
    return keys.sign(bytes.fromhex(header.id)).hex()


def signature_valid(block: Block) -> bool:
    try:
        signature = bytes.fromhex(block.signature)
    except ValueError:
        return False
    return verify_ed25519(block.header.leader.key, bytes.fromhex(block.id), signature)


def _mapping(value: Any, path: str, fields: tuple[str, ...]) -> Mapping[str, Any]:
    where = path or "(block)"
    if not isinstance(value, Mapping):
        raise BlockFormatError(where, f"expected an object with keys {', '.join(fields)}")
    missing = [name for name in fields if name not in value]
    if missing:
        raise BlockFormatError(f"{path}.{missing[0]}".lstrip("."), "missing")
    unknown = [name for name in value if name not in fields]
    if unknown:
        raise BlockFormatError(f"{path}.{unknown[0]}".lstrip("."), f"unknown field (allowed: {', '.join(fields)})")
    return value


def _hex_field(value: Any, path: str, n_bytes: int | None, allow_empty: bool = False) -> str:
    if allow_empty and value == "":
        return ""
    if not is_hex(value, n_bytes) or value in ("", "0x"):
        size = f"{2 * n_bytes} hex chars" if n_bytes else "a hex string"
        raise BlockFormatError(path, f"expected {size}, got {str(value)[:80]!r}")
    text = str(value)
    return text[2:].lower() if text[:2] in ("0x", "0X") else text.lower()


def _non_negative_int(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise BlockFormatError(path, f"expected an integer in [0, 2^63), got {str(value)[:80]!r}")
    return value

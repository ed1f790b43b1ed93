"""Load and validate the node's YAML config (docs/node-config.md) into frozen dataclasses.

Every problem becomes a :class:`ConfigError` naming the dotted key, what is expected and what was found.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml
from py_arkworks_bls12381 import G1Point

from nomos_node.codec import canonical_json, is_hex, strip_0x
from nomos_node.consensus.fork_choice import SPEC_TIE_BREAK, TIE_BREAKS, TieBreak, parse_tie_break
from nomos_node.crypto.keys import ed25519_from_peer_id

ROLES = ("validator", "executor")
_MISSING: Any = object()
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
T = TypeVar("T")
MAX_FD = 2**31 - 1
# Shorter slots would not fit slot numbers in the 64 bits of the VRF message and the block header.
MIN_SLOT_DURATION_S = 0.001


class ConfigError(Exception):
    """One config problem; ``str()`` is a single line ``config error: <key>: expected <what>, got <what>``."""

    def __init__(self, key: str, expected: str, got: str) -> None:
        self.key, self.expected, self.got = key, expected, got
        super().__init__(f"config error: {key}: expected {expected}, got {got}")


class HostPort(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeSection:
    role: str
    index: int
    name: str
    key_seed: bytes


@dataclass(frozen=True)
class ListenConfig:
    listen: HostPort
    listen_fd: int | None


@dataclass(frozen=True)
class NetworkConfig:
    listen: HostPort
    listen_fd: int | None
    advertise: HostPort
    initial_peers: tuple[HostPort, ...]


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path


@dataclass(frozen=True)
class ConsensusConfig:
    prolonged_bootstrap_period: float = 1.0
    orphan_cache_size: int = 5
    sync_interval: float = 2.0
    tie_break: TieBreak = SPEC_TIE_BREAK  # equal-height tips: keep the current one (spec) or the lower VRF output
    force_bootstrap: bool = False  # start in Bootstrapping whatever the store says
    offline_grace_period: float = 1200.0  # seconds offline after which a restart bootstraps again
    state_recording_interval: float = 60.0  # seconds between records of (now, mode) in the store


@dataclass(frozen=True)
class MempoolConfig:
    max_pending: int = 10_000  # transactions waiting; beyond it a submission gets 429 mempool_full
    max_block_transactions: int = 1024  # what a leader packs into one block (at most the block format's 1024)


@dataclass(frozen=True)
class DaConfig:
    """Data availability (docs/node-config.md, `da`): the static membership of session 0 and the timings.
    A node with this section loads the KZG parameters at start and serves the DA routes."""

    assignations: tuple[tuple[str, ...], ...]  # index = subnetwork id: its members' peer ids
    addressbook: tuple[tuple[str, HostPort], ...]  # (peer id, p2p address), sorted by peer id
    num_subnets: int = 2
    dispersal_factor: int = 2
    num_samples: int = 1
    dispersal_timeout: float = 20.0  # seconds an executor waits for a subnetwork's acknowledgements
    retry_limit: int = 2  # retries of a subnetwork that did not acknowledge
    retry_cooldown: float = 3.0  # seconds between retries
    sampling_timeout: float = 5.0  # seconds for one sampling request

    def address_of(self, peer_id: str) -> HostPort | None:
        return dict(self.addressbook).get(peer_id)


@dataclass(frozen=True)
class EpochConfig:
    stake_distribution_stabilization: int
    period_nonce_buffer: int
    period_nonce_stabilization: int


@dataclass(frozen=True)
class StakeNote:
    value: int
    vrf_pk: str  # lowercase hex, compressed G1 point
    signing_pk: str  # lowercase hex, Ed25519 public key


@dataclass(frozen=True)
class WalletNote:
    value: int
    pk: str  # lowercase hex, Ed25519 public key


@dataclass(frozen=True)
class GenesisConfig:
    chain_start_time: float
    slot_duration: float
    active_slot_coeff: float
    security_param: int
    epoch: EpochConfig
    stake_notes: tuple[StakeNote, ...]
    wallet_notes: tuple[WalletNote, ...] = ()

    @property
    def total_stake(self) -> int:
        return sum(note.value for note in self.stake_notes)

    def canonical_dict(self) -> dict[str, Any]:
        """The genesis section in normalised form (numbers typed, hex lowercase): the input of the genesis id."""
        return {
            "chain_start_time": float(self.chain_start_time),
            "slot_duration": float(self.slot_duration),
            "active_slot_coeff": float(self.active_slot_coeff),
            "security_param": self.security_param,
            "epoch": {
                "stake_distribution_stabilization": self.epoch.stake_distribution_stabilization,
                "period_nonce_buffer": self.epoch.period_nonce_buffer,
                "period_nonce_stabilization": self.epoch.period_nonce_stabilization,
            },
            "stake_notes": [
                {"value": n.value, "vrf_pk": n.vrf_pk, "signing_pk": n.signing_pk} for n in self.stake_notes
            ],
            "wallet_notes": [{"value": n.value, "pk": n.pk} for n in self.wallet_notes],
        }

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.canonical_dict())


@dataclass(frozen=True)
class NodeConfig:
    node: NodeSection
    api: ListenConfig
    testing_api: ListenConfig
    network: NetworkConfig
    storage: StorageConfig
    consensus: ConsensusConfig
    genesis: GenesisConfig
    mempool: MempoolConfig = MempoolConfig()
    da: DaConfig | None = None


# ---------------------------------------------------------------- value checkers


def _describe(value: Any) -> str:
    if value is _MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _section(value: Any, key: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key or "(top level)", "a mapping with keys " + ", ".join(allowed), _describe(value))
    prefix = f"{key}." if key else ""
    for name in value:
        if name not in allowed:
            raise ConfigError(
                f"{prefix}{name}", "no such key (allowed here: " + ", ".join(allowed) + ")", "an unknown key"
            )
    for name in required:
        if name not in value:
            raise ConfigError(f"{prefix}{name}", "this required key", _describe(_MISSING))
    return value


def _int(value: Any, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
    in_range = isinstance(value, int) and not isinstance(value, bool)
    in_range = in_range and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not in_range:
        bounds = f" >= {minimum}" if minimum is not None else ""
        if maximum is not None:
            bounds = f" in [{minimum}, {maximum}]"
        raise ConfigError(key, f"an integer{bounds}", _describe(value))
    return int(value)


def _number(value: Any, key: str, check: Callable[[float], bool], expected: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and check(value)
    if not ok:
        raise ConfigError(key, expected, _describe(value))
    return float(value)


def _hex(value: Any, key: str, n_bytes: int) -> str:
    if not is_hex(value, n_bytes):
        raise ConfigError(key, f"{2 * n_bytes} hex chars ({n_bytes} bytes)", _describe(value))
    return strip_0x(value).lower()


def _optional_fd(value: Any, key: str) -> int | None:
    return None if value is None else _int(value, key, minimum=0, maximum=MAX_FD)


def _host(text: str, key: str, original: Any) -> str:
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        if _HOSTNAME.match(host):
            return host
    raise ConfigError(key, "an IP address or DNS name as host", _describe(original))


def parse_address(value: Any, key: str, allow_port_zero: bool = False) -> HostPort:
    """Parse ``host:port``, ``[v6]:port`` or a multiaddr ``/ip4|ip6|dns/<host>/tcp/<port>``."""
    expected = "host:port or a multiaddr /ip4/<ip>/tcp/<port> or /dns/<name>/tcp/<port>"
    if not isinstance(value, str) or not value:
        raise ConfigError(key, expected, _describe(value))
    if value.startswith("/"):
        parts = value.split("/")
        if len(parts) != 5 or parts[1] not in ("ip4", "ip6", "dns", "dns4", "dns6") or parts[3] != "tcp":
            raise ConfigError(key, expected, _describe(value))
        proto, host_text, port_text = parts[1], parts[2], parts[4]
        if proto in ("ip4", "ip6"):
            try:
                address = ipaddress.ip_address(host_text)
            except ValueError:
                raise ConfigError(key, f"a valid {proto} address in the multiaddr", _describe(value)) from None
            if address.version != int(proto[-1]):
                raise ConfigError(key, f"a valid {proto} address in the multiaddr", _describe(value))
        host = _host(host_text, key, value)
    else:
        host_text, sep, port_text = value.rpartition(":")
        if not sep or not host_text:
            raise ConfigError(key, expected, _describe(value))
        host = _host(host_text, key, value)
    minimum = 0 if allow_port_zero else 1
    if not port_text.isdigit() or not minimum <= int(port_text) <= 65535:
        raise ConfigError(key, f"a TCP port in [{minimum}, 65535]", _describe(value))
    return HostPort(host, int(port_text))


def _list(value: Any, key: str, item: Callable[[Any, str], T], expected: str, non_empty: bool = False) -> tuple[T, ...]:
    if not isinstance(value, list) or (non_empty and not value):
        raise ConfigError(key, expected, _describe(value))
    return tuple(item(entry, f"{key}[{i}]") for i, entry in enumerate(value))


# ---------------------------------------------------------------- sections


def _parse_node(raw: Any, role_override: str | None) -> NodeSection:
    sec = _section(raw, "node", ("role", "index", "name", "key_seed"), ("index", "key_seed"))
    role = sec.get("role", _MISSING)
    if role is _MISSING:
        role = role_override or "validator"
    elif role not in ROLES:
        raise ConfigError("node.role", "one of " + " | ".join(ROLES), _describe(role))
    if role_override is not None and role != role_override:
        raise ConfigError("node.role", f"{role_override} (this binary runs the {role_override} role)", repr(role))
    index = _int(sec["index"], "node.index", minimum=0)
    name = sec.get("name", f"{role}-{index}")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("node.name", "a non-empty string", _describe(name))
    key_seed = bytes.fromhex(_hex(sec["key_seed"], "node.key_seed", 32))
    return NodeSection(role=role, index=index, name=name, key_seed=key_seed)


def _parse_listen(raw: Any, key: str) -> ListenConfig:
    sec = _section(raw, key, ("listen", "listen_fd"), ("listen",))
    return ListenConfig(
        listen=parse_address(sec["listen"], f"{key}.listen", allow_port_zero=True),
        listen_fd=_optional_fd(sec.get("listen_fd"), f"{key}.listen_fd"),
    )


def _parse_network(raw: Any) -> NetworkConfig:
    sec = _section(raw, "network", ("listen", "listen_fd", "advertise", "initial_peers"), ("listen",))
    listen = parse_address(sec["listen"], "network.listen", allow_port_zero=True)
    advertise_raw = sec.get("advertise")
    advertise = listen if advertise_raw is None else parse_address(advertise_raw, "network.advertise")
    peers_raw = sec.get("initial_peers")
    peers = _list(
        [] if peers_raw is None else peers_raw,
        "network.initial_peers",
        parse_address,
        "a list of host:port or multiaddr strings",
    )
    return NetworkConfig(listen, _optional_fd(sec.get("listen_fd"), "network.listen_fd"), advertise, peers)


def _parse_storage(raw: Any, base_dir: Path) -> StorageConfig:
    sec = _section(raw, "storage", ("data_dir",), ("data_dir",))
    data_dir = sec["data_dir"]
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("storage.data_dir", "a directory path", _describe(data_dir))
    path = Path(data_dir).expanduser()
    return StorageConfig(data_dir=path if path.is_absolute() else (base_dir / path))


def _parse_consensus(raw: Any) -> ConsensusConfig:
    if raw is None:
        return ConsensusConfig()
    sec = _section(raw, "consensus", ("prolonged_bootstrap_period", "orphan_cache_size", "sync_interval",
                                      "tie_break", "force_bootstrap", "offline_grace_period",
                                      "state_recording_interval"), ())
    defaults = ConsensusConfig()
    return ConsensusConfig(
        tie_break=_tie_break(sec.get("tie_break", defaults.tie_break)),
        force_bootstrap=_bool(sec.get("force_bootstrap", defaults.force_bootstrap), "consensus.force_bootstrap"),
        offline_grace_period=_number(
            sec.get("offline_grace_period", defaults.offline_grace_period),
            "consensus.offline_grace_period",
            lambda v: v >= 0,
            "a number of seconds >= 0",
        ),
        state_recording_interval=_number(
            sec.get("state_recording_interval", defaults.state_recording_interval),
            "consensus.state_recording_interval",
            lambda v: v > 0,
            "a number of seconds > 0",
        ),
        prolonged_bootstrap_period=_number(
            sec.get("prolonged_bootstrap_period", defaults.prolonged_bootstrap_period),
            "consensus.prolonged_bootstrap_period",
            lambda v: v >= 0,
            "a number of seconds >= 0",
        ),
        orphan_cache_size=_int(
            sec.get("orphan_cache_size", defaults.orphan_cache_size), "consensus.orphan_cache_size", minimum=1
        ),
        sync_interval=_number(
            sec.get("sync_interval", defaults.sync_interval),
            "consensus.sync_interval",
            lambda v: v > 0,
            "a number of seconds > 0",
        ),
    )


def _tie_break(value: Any) -> TieBreak:
    try:
        return parse_tie_break(value)
    except ValueError:
        expected = " or ".join(f'"{name}"' for name in TIE_BREAKS)
        raise ConfigError("consensus.tie_break", f"{expected} (the specification's rule is \"{SPEC_TIE_BREAK}\")",
                          _describe(value)) from None


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, "true or false", _describe(value))
    return value


def _parse_mempool(raw: Any) -> MempoolConfig:
    if raw is None:
        return MempoolConfig()
    sec = _section(raw, "mempool", ("max_pending", "max_block_transactions"), ())
    defaults = MempoolConfig()
    return MempoolConfig(
        max_pending=_int(sec.get("max_pending", defaults.max_pending), "mempool.max_pending", 1, 1_000_000),
        max_block_transactions=_int(sec.get("max_block_transactions", defaults.max_block_transactions),
                                    "mempool.max_block_transactions", 0, 1024),
    )


def _peer_id(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, "a peer id (base58, 12D3KooW…)", _describe(value))
    try:
        ed25519_from_peer_id(value)
    except ValueError:
        raise ConfigError(key, "an Ed25519 peer id (base58, 12D3KooW…)", _describe(value)) from None
    return value


DA_KEYS = ("num_subnets", "dispersal_factor", "num_samples", "assignations", "addressbook", "dispersal_timeout",
           "retry_limit", "retry_cooldown", "sampling_timeout")
MAX_SUBNETS = 4096


def _parse_da(raw: Any) -> DaConfig | None:
    if raw is None:
        return None
    sec = _section(raw, "da", DA_KEYS, ("assignations", "addressbook"))
    defaults = DaConfig((), ())
    n = _int(sec.get("num_subnets", defaults.num_subnets), "da.num_subnets", 2, MAX_SUBNETS)
    if n & (n - 1):
        raise ConfigError("da.num_subnets", f"a power of two in [2, {MAX_SUBNETS}] (it is the column count)",
                          _describe(n))
    factor = _int(sec.get("dispersal_factor", defaults.dispersal_factor), "da.dispersal_factor", 1)
    samples = _int(sec.get("num_samples", defaults.num_samples), "da.num_samples", 1, n)
    book_raw = sec["addressbook"]
    if not isinstance(book_raw, Mapping) or not book_raw:
        raise ConfigError("da.addressbook", "a non-empty mapping peer id -> host:port", _describe(book_raw))
    book = {_peer_id(pid, f"da.addressbook[{pid!r}]"): parse_address(addr, f"da.addressbook.{pid}")
            for pid, addr in book_raw.items()}
    assign_raw = sec["assignations"]
    if not isinstance(assign_raw, Mapping):
        raise ConfigError("da.assignations", f"a mapping subnetwork id (0..{n - 1}) -> list of peer ids",
                          _describe(assign_raw))
    by_subnet: dict[int, tuple[str, ...]] = {}
    for subnet_key, members_raw in assign_raw.items():
        text = str(subnet_key)
        if not text.isdigit() or int(text) >= n or int(text) in by_subnet:
            raise ConfigError(f"da.assignations.{text}", f"a subnetwork id in 0..{n - 1}, each once", repr(text))
        key = f"da.assignations.{text}"
        members = _list(members_raw, key, _peer_id, "a non-empty list of peer ids", non_empty=True)
        for i, member in enumerate(members):
            if member not in book:
                raise ConfigError(f"{key}[{i}]", "a peer listed in da.addressbook", repr(member))
        by_subnet[int(text)] = members
    missing = [i for i in range(n) if i not in by_subnet]
    if missing:
        raise ConfigError(f"da.assignations.{missing[0]}", "the members of every subnetwork 0..num_subnets-1",
                          _describe(_MISSING))
    return DaConfig(
        assignations=tuple(by_subnet[i] for i in range(n)),
        addressbook=tuple(sorted(book.items())),
        num_subnets=n,
        dispersal_factor=factor,
        num_samples=samples,
        dispersal_timeout=_number(sec.get("dispersal_timeout", defaults.dispersal_timeout), "da.dispersal_timeout",
                                  lambda v: v > 0, "a number of seconds > 0"),
        retry_limit=_int(sec.get("retry_limit", defaults.retry_limit), "da.retry_limit", 0, 100),
        retry_cooldown=_number(sec.get("retry_cooldown", defaults.retry_cooldown), "da.retry_cooldown",
                               lambda v: v >= 0, "a number of seconds >= 0"),
        sampling_timeout=_number(sec.get("sampling_timeout", defaults.sampling_timeout), "da.sampling_timeout",
                                 lambda v: v > 0, "a number of seconds > 0"),
    )


def _parse_stake_note(raw: Any, key: str) -> StakeNote:
    sec = _section(raw, key, ("value", "vrf_pk", "signing_pk"), ("value", "vrf_pk", "signing_pk"))
    vrf_pk = _hex(sec["vrf_pk"], f"{key}.vrf_pk", 48)
    try:
        point = G1Point.from_compressed_bytes(bytes.fromhex(vrf_pk))
    except Exception:  # the binding raises a bare Exception for any bad encoding
        raise ConfigError(f"{key}.vrf_pk", "a compressed BLS12-381 G1 point", _describe(sec["vrf_pk"])) from None
    if point == G1Point.identity():  # every VRF proof under the identity key is refused: this stake could never lead
        raise ConfigError(f"{key}.vrf_pk", "a BLS12-381 G1 point other than the identity", _describe(sec["vrf_pk"]))
    return StakeNote(
        value=_int(sec["value"], f"{key}.value", minimum=1),
        vrf_pk=vrf_pk,
        signing_pk=_hex(sec["signing_pk"], f"{key}.signing_pk", 32),
    )


def _parse_wallet_note(raw: Any, key: str) -> WalletNote:
    sec = _section(raw, key, ("value", "pk"), ("value", "pk"))
    return WalletNote(value=_int(sec["value"], f"{key}.value", minimum=1), pk=_hex(sec["pk"], f"{key}.pk", 32))


def _active_slot_coeff(value: Any, security_param: int) -> float:
    """f in (0, 1), and large enough that the epoch schedule's base period floor(k / f) is a finite number."""
    f = _number(value, "genesis.active_slot_coeff", lambda v: 0 < v < 1, "a number in (0, 1)")
    try:
        finite = math.isfinite(security_param / f)
    except OverflowError:
        finite = False
    if not finite:
        raise ConfigError("genesis.active_slot_coeff", "a number in (0, 1) with security_param / active_slot_coeff "
                          "finite", _describe(value))
    return f


def _parse_epoch(raw: Any) -> EpochConfig:
    names = ("stake_distribution_stabilization", "period_nonce_buffer", "period_nonce_stabilization")
    sec = _section(raw, "genesis.epoch", names, names)
    values = {name: _int(sec[name], f"genesis.epoch.{name}", minimum=1) for name in names}
    return EpochConfig(**values)


def parse_genesis(raw: Any) -> GenesisConfig:
    allowed = (
        "chain_start_time",
        "slot_duration",
        "active_slot_coeff",
        "security_param",
        "epoch",
        "stake_notes",
        "wallet_notes",
    )
    sec = _section(raw, "genesis", allowed, allowed[:-1])
    wallet_raw = sec.get("wallet_notes")
    security_param = _int(sec["security_param"], "genesis.security_param", minimum=1)
    return GenesisConfig(
        chain_start_time=_number(
            sec["chain_start_time"], "genesis.chain_start_time", lambda v: v >= 0, "unix seconds >= 0"
        ),
        slot_duration=_number(
            sec["slot_duration"],
            "genesis.slot_duration",
            lambda v: v >= MIN_SLOT_DURATION_S,
            f"a number of seconds >= {MIN_SLOT_DURATION_S}",
        ),
        active_slot_coeff=_active_slot_coeff(sec["active_slot_coeff"], security_param),
        security_param=security_param,
        epoch=_parse_epoch(sec["epoch"]),
        stake_notes=_list(
            sec["stake_notes"],
            "genesis.stake_notes",
            _parse_stake_note,
            "a non-empty list of stake notes",
            non_empty=True,
        ),
        wallet_notes=_list(
            [] if wallet_raw is None else wallet_raw,
            "genesis.wallet_notes",
            _parse_wallet_note,
            "a list of wallet notes",
        ),
    )


def parse_config(raw: Any, base_dir: Path, role_override: str | None = None) -> NodeConfig:
    """Validate an already-parsed YAML document; relative ``storage.data_dir`` is resolved against ``base_dir``."""
    if role_override is not None and role_override not in ROLES:
        raise ValueError(f"role_override must be one of {ROLES}, got {role_override!r}")
    top_keys = ("node", "api", "testing_api", "network", "storage", "consensus", "genesis", "mempool", "da")
    sec = _section(raw, "", top_keys, tuple(k for k in top_keys if k not in ("consensus", "mempool", "da")))
    return NodeConfig(
        node=_parse_node(sec["node"], role_override),
        api=_parse_listen(sec["api"], "api"),
        testing_api=_parse_listen(sec["testing_api"], "testing_api"),
        network=_parse_network(sec["network"]),
        storage=_parse_storage(sec["storage"], base_dir),
        consensus=_parse_consensus(sec.get("consensus")),
        genesis=parse_genesis(sec["genesis"]),
        mempool=_parse_mempool(sec.get("mempool")),
        da=_parse_da(sec.get("da")),
    )


def load_config(path: str | Path, role_override: str | None = None) -> NodeConfig:
    """Read and validate the YAML config at ``path``. ``role_override="executor"`` is what ``nomos-executor`` passes."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "(file)", f"a readable UTF-8 YAML file at {path}", type(exc).__name__ + ": " + str(exc)
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("(file)", "valid YAML", f"{problem}{where}") from None
    return parse_config(raw, path.resolve().parent, role_override)

"""The node adapter: everything the framework knows about one node implementation, behind one interface.

Key derivation, the genesis, config rendering, the binary to run on a host, the image to run in a
container, the environment a node needs and the API client all come from the adapter, so driving another
implementation (for instance the real Logos node binaries, whose config format differs) means writing one
adapter — a plug-in of the entry point group `nomos_testing.nodes` — and naming it in the scenario
(`node = "..."`). Topology generation, runners, readiness, workloads and expectations stay as they are.
The framework never imports a node's code: adapters speak files, processes and HTTP only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.nodes.binaries import Resolution
from nomos_testing.nodes.client import NodeClient
from nomos_testing.topology.model import NodeIdentity, Role, WalletAccount

if TYPE_CHECKING:
    from nomos_testing.runners.base import NodeEndpoint
    from nomos_testing.scenario.plan import ScenarioPlan
    from nomos_testing.topology.model import GeneratedTopology

Log = Callable[[str], None]


@dataclass(frozen=True)
class NodeAddresses:
    """Where one node listens and how others reach it, as the runner decided."""

    api_listen: str
    testing_listen: str
    p2p_listen: str
    p2p_advertise: str


@dataclass(frozen=True)
class ContainerPorts:
    """Fixed ports inside a container; the host side is chosen by the runner."""

    api: int
    testing: int
    p2p: int


@dataclass(frozen=True)
class Note:
    """An unspent note of the ledger as the framework tracks it: its id, value and owner's public key."""

    note_id: str
    value: int
    pk: str


@dataclass(frozen=True)
class SignedTransfer:
    """A transfer built and signed by the adapter: the body to submit, its hash, its fee, the notes it creates."""

    tx: dict[str, Any]
    tx_hash: str
    fee: int
    outputs: tuple[Note, ...]


@dataclass(frozen=True)
class SignedOp:
    """A transaction carrying one channel operation, built and signed by the adapter: the body to submit, its
    hash, and the message id the channel's next message names as its parent."""

    tx: dict[str, Any]
    tx_hash: str
    msg_id: str


@dataclass(frozen=True)
class ChannelMessage:
    """A channel operation as a block carries it (docs/data-availability.md)."""

    kind: str                  # "inscribe" | "blob"
    channel: str
    msg_id: str
    parent: str
    blob_id: str | None = None
    blob_size: int | None = None


@dataclass(frozen=True)
class NodeImage:
    """The container image a node runs in: its tag, and how to make sure it exists locally."""

    tag: str
    ensure: Callable[[Log], str]        # builds or updates it when needed; returns the tag to run
    build: Callable[[Log], str]         # rebuilds it now (`image build --force`)
    labels: Callable[[], Mapping[str, str] | None]  # the local image's labels (None: not present)


class NodeAdapter(ABC):
    name: ClassVar[str]
    container_ports: ClassVar[ContainerPorts] = ContainerPorts(api=18080, testing=18081, p2p=3000)
    config_dir_in_container: ClassVar[str] = "/etc/nomos"
    data_dir_in_container: ClassVar[str] = "/data"

    # Topology --------------------------------------------------------------------------------------

    @abstractmethod
    def node_identity(self, seed: int, name: str, role: Role, index: int, ordinal: int) -> NodeIdentity:
        """Keys of one node, derived deterministically from the scenario seed and its name."""

    @abstractmethod
    def wallet(self, seed: int, index: int, value: int) -> WalletAccount:
        """Genesis wallet `index`: its secret and public key, derived from the scenario seed."""

    @abstractmethod
    def genesis(self, plan: ScenarioPlan, nodes: tuple[NodeIdentity, ...],
                wallets: tuple[WalletAccount, ...]) -> dict[str, Any]:
        """What every node's genesis holds, except the chain start time (set at deploy time)."""

    # Config ----------------------------------------------------------------------------------------

    @abstractmethod
    def render_config(self, topology: GeneratedTopology, node: NodeIdentity, addresses: Mapping[str, NodeAddresses],
                      chain_start_time: float, data_dir: str) -> str:
        """The text of one node's config file; usable by hand (no inherited file descriptors in it)."""

    def config_file_name(self, node: NodeIdentity) -> str:
        return f"{node.name}.yaml"

    # Processes -------------------------------------------------------------------------------------

    @abstractmethod
    def binary_name(self, role: Role) -> str:
        """The executable of a role (`nomos-node`, `nomos-executor`)."""

    @abstractmethod
    def resolve_binary(self, role: Role) -> Resolution:
        """Where the host runner finds the executable of a role, or why it cannot."""

    def command(self, binary: str, config_path: str) -> list[str]:
        return [binary, config_path]

    @abstractmethod
    def log_file_name(self, node: NodeIdentity) -> str:
        """The node's log file in the run directory's logs/ (nomos-node-<i>.log)."""

    @abstractmethod
    def environment(self) -> dict[str, str]:
        """Variables every node of a run gets (the host runner passes the framework's environment too)."""

    @abstractmethod
    def log_dir_environment(self, logs_dir: Path) -> dict[str, str]:
        """How to tell a host node where to write its log file."""

    @abstractmethod
    def socket_handover(self, fds: Mapping[str, int]) -> dict[str, str]:
        """Environment that hands inherited listening sockets (`api`, `testing_api`, `network`) to a node."""

    # Containers ------------------------------------------------------------------------------------

    @abstractmethod
    def image(self) -> NodeImage:
        """The node image of the compose and Kubernetes runners."""

    def container_environment(self, image_labels: Mapping[str, str]) -> dict[str, str]:
        """Variables a node container gets besides `environment()` (e.g. paths inside the image)."""
        return {}

    # Transactions (docs/transactions.md) -----------------------------------------------------------
    # Encoding, hashing and signing are the node's rules, so they live here and not in the workload.

    supports_transactions: ClassVar[bool] = False

    def _no_transactions(self) -> NotImplementedError:
        return NotImplementedError(f"the {self.name!r} node adapter does not implement transactions")

    def transfer(self, inputs: Sequence[tuple[Note, str]], outputs: Sequence[tuple[int, str]],
                 fee: int) -> SignedTransfer:
        """A signed transfer spending `inputs` (note, owner's secret key hex) into `outputs` (value, pk)."""
        raise self._no_transactions()

    def tx_hash(self, tx: Mapping[str, Any]) -> str:
        raise self._no_transactions()

    def tx_fee(self, tx: Mapping[str, Any]) -> int:
        raise self._no_transactions()

    def note_id(self, tx_hash: str, index: int) -> str:
        raise self._no_transactions()

    def block_transactions(self, block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The transactions a block (as `/storage/block` serves it) carries."""
        raise self._no_transactions()

    def genesis_notes(self, topology: GeneratedTopology) -> list[Note]:
        """The genesis note of every wallet of the topology, in wallet order."""
        raise self._no_transactions()

    # Data availability (docs/data-availability.md) ------------------------------------------------
    # Channel operations are ledger transactions: their encoding and message ids are the node's rules.

    supports_da: ClassVar[bool] = False

    def _no_da(self) -> NotImplementedError:
        return NotImplementedError(f"the {self.name!r} node adapter does not implement data availability")

    def da_signer(self) -> str:
        """The public key that signs the framework's channel operations (and that /disperse-data names)."""
        raise self._no_da()

    def channel_inscription(self, channel: str, inscription: bytes, parent: str) -> SignedOp:
        """A signed transaction inscribing `inscription` in `channel` after message `parent`."""
        raise self._no_da()

    def first_parent(self) -> str:
        """The parent a channel's first message names."""
        raise self._no_da()

    def blob_msg_id(self, channel: str, blob_id: str, blob_size: int, parent: str) -> str:
        """The message id of the blob operation an executor builds for a dispersal of `blob_size` bytes."""
        raise self._no_da()

    def channel_messages(self, tx: Mapping[str, Any]) -> list[ChannelMessage]:
        """The channel operations a transaction (as a block carries it) holds."""
        raise self._no_da()

    # API -------------------------------------------------------------------------------------------

    def client(self, endpoint: NodeEndpoint, timeout_s: float | None = None) -> NodeClient:
        kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
        return NodeClient(endpoint.name, endpoint.api_url, endpoint.testing_url, **kwargs)


def default_adapter() -> NodeAdapter:
    """The reference node's adapter (the default of every plan)."""
    from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter

    return ReferenceNodeAdapter()

"""SQLite block store under ``storage.data_dir``: every accepted block plus the tip and LIB ids.

Each write is one SQLite transaction, so a crash leaves either the old or the new state. A store created
for another genesis, or one that is not a readable block store, raises :class:`StoreError`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from nomos_node.codec import canonical_json
from nomos_node.consensus.block import Block, BlockFormatError

DB_FILE = "blocks.sqlite3"
SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    id TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    height INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_by_height ON blocks (height);
"""


class StoreError(RuntimeError):
    """The on-disk store cannot be used (corrupt, foreign genesis, unreadable)."""


class BlockStore:
    def __init__(self, connection: sqlite3.Connection, location: str) -> None:
        self._db = connection
        self.location = location

    @classmethod
    def open(cls, data_dir: str | Path) -> BlockStore:
        """Open (creating when missing) the store in ``data_dir``."""
        directory = Path(data_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {directory}: {exc}") from None
        return cls._connect(str(directory / DB_FILE))

    @classmethod
    def in_memory(cls) -> BlockStore:
        return cls._connect(":memory:")

    @classmethod
    def _connect(cls, location: str) -> BlockStore:
        try:
            connection = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            version = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                connection.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif version[0] != SCHEMA_VERSION:
                raise StoreError(f"{location}: block store schema {version[0]}, this node reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{location} is not a usable block store ({exc}); move it away or use another data_dir"
            ) from None
        return cls(connection, location)

    def bind_genesis(self, genesis_id: str) -> None:
        """Record the genesis id in a new store; refuse a store written for another genesis."""
        stored = self._meta("genesis_id")
        if stored is None:
            self._set_meta({"genesis_id": genesis_id})
        elif stored != genesis_id:
            raise StoreError(
                f"{self.location} belongs to genesis {stored}, this node's genesis is {genesis_id}; "
                "use another storage.data_dir or delete the old one"
            )

    def commit(
        self, *, add: Block | None = None, remove: Iterable[str] = (), tip: str | None = None, lib: str | None = None
    ) -> None:
        """Add a block, delete pruned ones and move the tip/LIB ids in one atomic transaction."""
        heads = {name: value for name, value in (("tip", tip), ("lib", lib)) if value is not None}
        with self._transaction() as db:
            if add is not None:
                db.execute(
                    "INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?)",
                    (add.id, add.parent, add.height, add.slot, canonical_json(add.to_json()).decode()),
                )
            db.executemany("DELETE FROM blocks WHERE id = ?", [(block_id,) for block_id in remove])
            self._write_meta(db, heads)

    def heads(self) -> tuple[str | None, str | None]:
        return self._meta("tip"), self._meta("lib")

    def record_activity(self, at: float, mode: str) -> None:
        """Remember that the node was active at ``at`` (unix seconds) in ``mode`` (for the restart rule)."""
        self._set_meta({"last_active_at": repr(float(at)), "last_mode": mode})

    def last_activity(self) -> tuple[float, str] | None:
        """(unix seconds, mode) of the last record, or None when there is none (or it is unreadable)."""
        at, mode = self._meta("last_active_at"), self._meta("last_mode")
        if at is None or mode is None:
            return None
        try:
            return float(at), mode
        except ValueError:
            return None

    def load_blocks(self) -> list[Block]:
        """All stored blocks, parents before children (ascending height)."""
        blocks = []
        try:
            rows = self._db.execute("SELECT id, body FROM blocks ORDER BY height, id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.location}: cannot read blocks ({exc})") from None
        for block_id, body in rows:
            try:
                block = Block.from_json(json.loads(body))
            except (ValueError, BlockFormatError) as exc:
                raise StoreError(f"{self.location}: stored block {block_id} is corrupt ({exc})") from None
            if block.id != block_id or block.header.compute_id() != block_id:
                raise StoreError(f"{self.location}: stored block {block_id} does not hash to its id")
            blocks.append(block)
        return blocks

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            self._write_meta(db, values)

    @staticmethod
    def _write_meta(db: sqlite3.Connection, values: dict[str, str]) -> None:
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")

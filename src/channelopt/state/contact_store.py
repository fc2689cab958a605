"""The durable contact store: consent changes and recorded sends in an embedded SQLite database.

Everything a service tells a model between fits (:meth:`ChannelModel.update_consent`,
:meth:`ChannelModel.record_send`) is one row of the ``events`` table, committed
(WAL journal, ``synchronous=FULL``) before the call returns, so a crash loses
nothing and every process that opens the same file sees the same events:

* ``seq`` (INTEGER PRIMARY KEY AUTOINCREMENT) orders events across processes
  (SQLite has one writer at a time, so seq order is commit order). A saved
  model records the last seq it folded in (its *contact watermark*); events
  after it are applied on top of the model's arrays at decision time.
* ``uid`` (random, unique) lets :meth:`ContactStore.merge_from` copy events into
  another store exactly once.
* ``cid`` is the customer id as text, ``"s:<id>"`` or ``"i:<id>"``.
* ``tombstones`` hold a keyed BLAKE2b hash (the key is a random salt kept in
  ``meta``) of every forgotten customer with the instant of the erasure: never
  the id itself. Log rows of a tombstoned customer sent before that instant are
  not ingested again.

Erasure (:meth:`ContactStore.forget`) deletes the rows with ``secure_delete``
on (freed content is overwritten with zeros) and truncates the write-ahead log,
so the file keeps no byte of a forgotten id.

The interface is deliberately small (append, events_after, merge_from, forget,
tombstones, data_version) so that a server database can implement it later.

Examples
--------
>>> store = ContactStore(None, ("email", "sms"))   # None: in memory (one process only)
>>> [e.seq for e in store.append([("c-1", "consent", 0, -1, 1, 0)])]
[1]
>>> [(e.customer_id, e.grant) for e in store.events_after(0)]
[('c-1', 1)]
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from channelopt.state.ledger import Event, customer_key

__all__ = ["ContactStore", "FILE_NAME", "key_text", "id_of_key"]

#: The contact store's file name inside a model directory.
FILE_NAME = "contacts.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    cid TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('send', 'consent')),
    minute INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    grant_bits INTEGER NOT NULL,
    revoke_bits INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_cid ON events (cid);
CREATE TABLE IF NOT EXISTS tombstones (
    h TEXT PRIMARY KEY,
    at_ns INTEGER NOT NULL,
    at_seq INTEGER NOT NULL
);
"""


def key_text(customer_id: Any) -> str:
    """The id as stored in the ``cid`` column: ``"s:<text>"`` or ``"i:<integer>"``.

    Examples
    --------
    >>> key_text("c-1"), key_text(np.int64(7))
    ('s:c-1', 'i:7')
    """
    k = customer_key(customer_id)
    return f"s:{k}" if isinstance(k, str) else f"i:{int(k)}"


def id_of_key(text: str) -> Any:
    """Inverse of :func:`key_text`.

    Examples
    --------
    >>> id_of_key("i:7"), id_of_key("s:c-1")
    (7, 'c-1')
    """
    return text[2:] if text[0] == "s" else int(text[2:])


class ContactStore:
    """Contact events of one model (or of several processes sharing one model) in SQLite.

    Parameters
    ----------
    path : str, PathLike or None
        The database file (created if missing); None keeps it in memory.
    channels : sequence of str
        The model's channels: consent bits and channel codes refer to their
        positions, so a file written for other channels is refused.

    Thread-safe: one connection, used under a lock.
    """

    def __init__(self, path: str | os.PathLike[str] | None, channels: Sequence[str]) -> None:
        self.path = None if path is None else Path(path)
        self.channels = tuple(channels)
        self._lock = threading.Lock()
        target = ":memory:" if self.path is None else str(self.path)
        try:
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as exc:
            raise ValueError(f"{self.path}: cannot open the contact store ({exc})") from None
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"{self.path}: not a channelopt contact store ({exc})") from None

    def _setup(self) -> None:
        db = self._db
        if self.path is not None:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                db.execute(stmt)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                meta = {"format": "channelopt-contacts", "schema_version": str(SCHEMA_VERSION),
                        "channels": json.dumps(list(self.channels)), "store_id": secrets.token_hex(16),
                        "salt": secrets.token_hex(32)}
                db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if meta.get("format") != "channelopt-contacts":
            raise ValueError(f"{self.path}: not a channelopt contact store (format {meta.get('format')!r})")
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise ValueError(f"{self.path}: contact store schema version {meta.get('schema_version')!r} is not "
                             f"supported (this channelopt reads version {SCHEMA_VERSION})")
        stored = tuple(json.loads(meta["channels"]))
        if stored != self.channels:
            raise ValueError(f"{self.path}: the contact store records channels {list(stored)}, the model has "
                             f"{list(self.channels)} (consent is kept per channel: use the model's own store)")
        self.store_id = meta["store_id"]
        self._salt = bytes.fromhex(meta["salt"])

    def __repr__(self) -> str:
        return f"ContactStore({'memory' if self.path is None else str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------
    def append(self, rows: Iterable[tuple[Any, str, int, int, int, int]]) -> list[Event]:
        """Insert ``(customer_id, kind, minute, channel, grant, revoke)`` rows in one committed transaction.

        Returns the events with their ``seq``. Nothing is stored if anything fails.
        """
        rows = list(rows)
        if not rows:
            return []
        out = []
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for cid, kind, minute, channel, grant, revoke in rows:
                    cur = db.execute(
                        "INSERT INTO events (uid, cid, kind, minute, channel, grant_bits, revoke_bits) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (secrets.token_hex(16), key_text(cid), kind, int(minute), int(channel), int(grant),
                         int(revoke)))
                    out.append(Event(int(cur.lastrowid), customer_key(cid), kind, int(minute), int(channel),
                                     int(grant), int(revoke)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return out

    def merge_from(self, other: "ContactStore") -> None:
        """Copy ``other``'s events (in its order) that this store does not have yet, and its tombstones.

        Tombstones are keyed by a store's salt: a store that has neither events
        nor tombstones takes ``other``'s salt first, so they carry over; into a
        store with its own history they cannot (the ids are not known).
        """
        if other is self:
            return
        with other._lock:
            events = other._db.execute("SELECT uid, cid, kind, minute, channel, grant_bits, revoke_bits FROM events "
                                       "ORDER BY seq").fetchall()
            tombs = other._db.execute("SELECT h, at_ns, at_seq FROM tombstones").fetchall()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                (n,) = db.execute("SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM tombstones)").fetchone()
                if n == 0 and self._salt != other._salt:
                    db.execute("UPDATE meta SET value = ? WHERE key = 'salt'", (other._salt.hex(),))
                    self._salt = other._salt
                db.executemany("INSERT OR IGNORE INTO events (uid, cid, kind, minute, channel, grant_bits, "
                               "revoke_bits) VALUES (?, ?, ?, ?, ?, ?, ?)", events)
                if self._salt == other._salt:
                    db.executemany("INSERT OR IGNORE INTO tombstones (h, at_ns, at_seq) VALUES (?, ?, 0)",
                                   [(h, t) for h, t, _ in tombs])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- reading -------------------------------------------------------------------
    def events_after(self, seq: int) -> list[Event]:
        """Events with ``seq`` greater than ``seq``, in order."""
        with self._lock:
            rows = self._db.execute("SELECT seq, cid, kind, minute, channel, grant_bits, revoke_bits FROM events "
                                    "WHERE seq > ? ORDER BY seq", (int(seq),)).fetchall()
        return [Event(s, id_of_key(c), k, m, ch, g, r) for s, c, k, m, ch, g, r in rows]

    def uids_through(self, seq: int) -> set[str]:
        """The ``uid`` of every event up to ``seq`` (to tell which events another store already has)."""
        with self._lock:
            return {u for (u,) in self._db.execute("SELECT uid FROM events WHERE seq <= ?", (int(seq),))}

    def events_not_in(self, uids: set[str]) -> list[Event]:
        """Events whose uid is not in ``uids``, in order."""
        with self._lock:
            rows = self._db.execute("SELECT seq, uid, cid, kind, minute, channel, grant_bits, revoke_bits "
                                    "FROM events ORDER BY seq").fetchall()
        return [Event(s, id_of_key(c), k, m, ch, g, r) for s, u, c, k, m, ch, g, r in rows if u not in uids]

    def max_seq(self) -> int:
        with self._lock:
            (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(seq)

    def data_version(self) -> int:
        """Changes whenever another connection commits (``PRAGMA data_version``)."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def try_data_version(self) -> int | None:
        """:meth:`data_version`, or None when another thread holds the connection (never waits)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])
        finally:
            self._lock.release()

    # -- erasure -------------------------------------------------------------------
    def tomb_hash(self, customer_id: Any) -> str:
        """The keyed hash a tombstone stores for ``customer_id`` (not the id: the key is this store's salt)."""
        return hashlib.blake2b(key_text(customer_id).encode("utf-8", "surrogatepass"), key=self._salt[:64],
                               digest_size=20).hexdigest()

    def forget(self, customer_ids: Iterable[Any], at_ns: int) -> int:
        """Delete every event of the customers and leave a tombstone for each; return events deleted.

        The write-ahead log is checkpointed and truncated afterwards, so no copy of
        the deleted rows stays in the files (``secure_delete`` zeroes freed pages).
        """
        ids = list(customer_ids)
        keys = [key_text(c) for c in ids]
        hashes = [self.tomb_hash(c) for c in ids]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                (at_seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
                deleted = 0
                for k in keys:
                    deleted += db.execute("DELETE FROM events WHERE cid = ?", (k,)).rowcount
                db.executemany("INSERT OR REPLACE INTO tombstones (h, at_ns, at_seq) VALUES (?, ?, ?)",
                               [(h, int(at_ns), int(at_seq)) for h in hashes])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._scrub()
        return deleted

    def _scrub(self) -> None:
        """Move the WAL into the database and truncate it; rebuild the file so no freed page keeps old bytes."""
        db = self._db
        if self.path is None:
            return
        db.execute("VACUUM")
        for _ in range(50):
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            threading.Event().wait(0.05)
        raise ValueError(f"{self.path}: another process keeps a read transaction open; the erasure is "
                         "committed but the write-ahead log still holds old pages: run forget again")

    def tombstones(self) -> dict[str, int]:
        """Tombstone hash -> instant of the erasure (ns since the epoch)."""
        with self._lock:
            return {h: int(t) for h, t in self._db.execute("SELECT h, at_ns FROM tombstones")}

    def forgotten(self, values: Sequence[Any], tombs: dict[str, int]) -> np.ndarray:
        """Instant each customer was forgotten (ns), or ``int64`` min when never (``tombs`` from :meth:`tombstones`)."""
        out = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)
        if tombs:
            for i, v in enumerate(values):
                t = tombs.get(self.tomb_hash(v))
                if t is not None:
                    out[i] = t
        return out

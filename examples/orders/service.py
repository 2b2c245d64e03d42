"""The orders service: plain methods over SQLite, and the auth handlers the design needs."""

from __future__ import annotations

import datetime
import sqlite3
import threading
import uuid
from typing import Any

import httpx

import bastion
from bastion.security import APIKeyStore, JWTVerifier

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    amount REAL NOT NULL,
    type TEXT NOT NULL,
    customer TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""
_COLUMNS = ("id", "amount", "type", "customer", "note", "status", "created_at")


def sqlite_path(database_url: str) -> str:
    """The file of a `sqlite:///path` URL (a bare path is accepted too)."""
    return database_url.removeprefix("sqlite:///").removeprefix("sqlite://") or "orders.db"


class Orders:
    """The `orders` service. Methods are sync: Bastion runs them in its thread pool."""

    def __init__(
        self,
        database_url: str,
        jwt: JWTVerifier,
        api_keys: APIKeyStore,
        upstream: httpx.Client | None = None,
    ) -> None:
        self.path = sqlite_path(database_url)
        # The fraud-check service orders are screened by, when one is configured. The
        # client is Bastion's: it carries the trace onward and logs each call.
        self.upstream = upstream
        self._local = threading.local()
        # Auth handlers named after the scheme kinds the design uses.
        self.jwt_auth = jwt
        self.api_key_auth = api_keys
        with self._db() as db:
            db.execute(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        # One connection per worker thread: sqlite3 connections are not shared safely.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def create(self, p: Any) -> dict[str, Any]:
        order = {
            "id": str(uuid.uuid4()),
            "amount": p.order.amount,
            "type": p.order.type,
            "customer": p.order.customer,
            "note": p.order.note,
            "status": "open",
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        bastion.log.info("creating order", order_id=order["id"], amount=order["amount"])
        if self.upstream is not None:
            screening = self.upstream.post(
                "/check", json={"amount": order["amount"], "customer": order["customer"]}
            )
            if screening.status_code != 200:
                raise bastion.make_error("rejected", "the order was rejected by screening")
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                f"INSERT INTO orders ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [order[c] for c in _COLUMNS],
            )
            # Commit only if the client will hear of it: once the server has answered
            # (a 503 at WRITE_TIMEOUT or during a shutdown), this raises and the order
            # is rolled back; once committing, the request is no longer cancelled.
            with bastion.committing():
                db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
        return order

    def show(self, p: Any) -> dict[str, Any]:
        return self._get(p.id)

    def list(self, p: Any) -> dict[str, Any]:
        where, args = ("WHERE type = ?", [p.type]) if p.type else ("", [])
        db = self._db()
        total = db.execute(f"SELECT COUNT(*) FROM orders {where}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM orders {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            [*args, p.per_page, (p.page - 1) * p.per_page],
        ).fetchall()
        return {
            "orders": [_row(r) for r in rows],
            "page": p.page,
            "per_page": p.per_page,
            "total": total,
        }

    def cancel(self, p: Any) -> dict[str, Any]:
        order = self._get(p.id)
        if order["status"] == "cancelled":
            raise bastion.make_error("already_cancelled", f"order {p.id} is already cancelled")
        db = self._db()
        with bastion.committing():  # one statement: it commits, or it does not run
            db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", [p.id])
        order["status"] = "cancelled"
        return order

    def _get(self, order_id: str) -> dict[str, Any]:
        row = self._db().execute("SELECT * FROM orders WHERE id = ?", [order_id]).fetchone()
        if row is None:
            raise bastion.make_error("not_found", f"no order has id {order_id}", field="id")
        return _row(row)

    def check_database(self) -> None:
        """Health check: the database answers a query."""
        self._db().execute("SELECT 1").fetchone()


class Health:
    """The `health` service: a public ping."""

    async def ping(self) -> dict[str, str]:
        return {"status": "ok"}


def _row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    if data.get("note") is None:
        data.pop("note", None)
    return data

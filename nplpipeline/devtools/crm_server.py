"""A real local HTTP server playing the CRM, for tests and ``make demo``.

It implements the contract in ``docs/crm-payload.md`` -- bearer token, payload shape and
allow-list checks, deduplication by ``Idempotency-Key`` with the original receipt on
replay -- and misbehaves on purpose, deterministically for a given seed and request
order: a share of requests gets HTTP 500/503, another share has its connection closed
(FIN) or reset (RST) without any response, another is answered only after a delay (so
the client times out). Part of every fault happens *after* the batch was applied, so
the client sees a failure although the CRM holds the batch -- the case that makes
idempotency necessary.

Tests can also script what a contract-following CRM may legitimately do (``script``:
per idempotency key, the behaviour of its 1st, 2nd, ... request; later requests are
answered normally): ``in_progress`` (409, still working on the key's first request),
``unavailable_date`` (503 with ``Retry-After`` as an HTTP-date), ``wrong_key`` and
``no_key`` (applies, then acknowledges another batch key / none), ``broken_encoding``
(applies, then sends a body that does not decode), ``trickle`` (applies, then sends the
answer a byte at a time). ``reject`` refuses batches holding certain items with 422
naming the field, and ``receipt_style`` gives receipts as text, integers or long text.

It records every applied item per (as_of_date, item_id) and counts each application of
an item it already held for that date as a duplicate, so a test can prove exactly-once
delivery. ``GET /stats`` and ``GET /items?as_of_date=YYYY-MM-DD`` expose what it saw.

    python -m nplpipeline.devtools.crm_server --port 8765 --fail-rate 0.3 \\
        --drop-rate 0.1 --seed 7 --state var/crm-standin.sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import os
import random
import re
import signal
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nplpipeline.act.delivery.crm_config import DEFAULT_ENDPOINT
from nplpipeline.act.delivery.payload import FIELDS, FIELDS_BY_NAME
from nplpipeline.devtools import crm_store as store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
_KEY = re.compile(r"^[0-9a-f]{64}$")
_KIND_PATTERNS = {
    "money": re.compile(r"^-?\d{1,16}\.\d{2}$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "time": re.compile(r"^\d{2}:\d{2}:\d{2}$"),
    "timestamp": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
}
_TOP_LEVEL = {"as_of_date", "batch_key", "items"}
BEHAVIOURS = frozenset(
    {"in_progress", "unavailable_date", "wrong_key", "no_key", "broken_encoding", "trickle"}
)
RECEIPT_STYLES = frozenset({"string", "integer", "long"})
# An item refusal: (error code, field name) for an item the CRM will not take, else None.
ItemRule = Callable[[dict[str, Any]], tuple[str, str | None] | None]


@dataclass(frozen=True)
class Faults:
    """Shares of requests that misbehave (they add up to at most 1)."""

    fail_rate: float = 0.0  # HTTP 500 or 503
    drop_rate: float = 0.0  # connection closed or reset without a response
    slow_rate: float = 0.0  # answered after ``slow_seconds``
    slow_seconds: float = 1.0
    after_apply_share: float = 0.5  # of the faults above, share injected after applying
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.fail_rate, self.drop_rate, self.slow_rate, self.after_apply_share)
        if any(not 0 <= r <= 1 for r in rates) or sum(rates[:3]) > 1:
            raise ValueError("fault rates must be within 0..1 and add up to at most 1")


@dataclass(frozen=True)
class Fault:
    kind: str  # http_500 | http_503 | drop | reset | slow
    after_apply: bool


class RejectedError(Exception):
    """A 4xx answer: an error code and, at most, a field name (never a value)."""

    def __init__(self, status: int, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.field = status, code, field


class CrmState:
    """Everything the stand-in CRM holds; thread-safe, kept in SQLite (``crm_store``): a
    file when ``state_file`` is given (it survives a restart), else in memory."""

    def __init__(self, state_file: Path | None = None, receipt_style: str = "string") -> None:
        if receipt_style not in RECEIPT_STYLES:
            raise ValueError(f"receipt_style must be one of {sorted(RECEIPT_STYLES)}")
        self.lock = threading.RLock()
        self.state_file = state_file
        self.receipt_style = receipt_style
        self.requests_by_key: Counter[str] = Counter()
        self.db = store.connect(state_file)
        self.counters: Counter[str] = Counter(store.counters(self.db))
        self._batches = store.batch_count(self.db)

    @property
    def batches(self) -> dict[str, dict[str, Any]]:
        """batch key -> receipt, as_of_date, items, body_sha256, applied_at (a copy)."""
        with self.lock:
            return store.batches(self.db)

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def next_request_no(self, key: str) -> int:
        """0 for a key's first request, 1 for its second, ..."""
        with self.lock:
            self.requests_by_key[key] += 1
            return self.requests_by_key[key] - 1

    def _new_receipt(self, key: str) -> str | int:
        n = self._batches + 1
        if self.receipt_style == "integer":
            return 9_000_000_000_000 + n  # beyond 32 bits, as real CRMs' ids often are
        if self.receipt_style == "long":
            return f"crm-{n:06d}-" + key * 5  # 331 characters
        return f"crm-{n:06d}-{key[:12]}"

    def submit(
        self, as_of: str, key: str, body_sha: str, items: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """Apply a batch once per key; a replayed key returns the original receipt."""
        with self.lock:
            known = store.batch(self.db, key)
            if known is not None:
                if known["body_sha256"] == body_sha:
                    self.counters["replayed_batches"] += 1
                    return 200, {"status": "replayed", **_receipt(key, known)}
                self.counters["duplicate_key_conflicts"] += 1
                return 409, {
                    "status": "duplicate",
                    "error": "idempotency_key_reused",
                    **_receipt(key, known),
                }
            batch = {
                "receipt": self._new_receipt(key),
                "as_of_date": as_of,
                "items": len(items),
                "body_sha256": body_sha,
                "applied_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            split = store.split_items(self.db, as_of, items)
            counters = self.counters.copy()
            counters["items_applied"] += len(items)
            counters["applied_batches"] += 1
            counters["duplicate_items"] += sum(split[1].values())
            store.write_batch(self.db, key, batch, split, dict(counters))
            self.counters = counters  # only once the batch is stored
            self._batches += 1
            return 201, {"status": "applied", **_receipt(key, batch)}

    def stats(self) -> dict[str, Any]:
        """Counts only (no item values): safe to print."""
        with self.lock:
            c = self.counters
            prefixed: dict[str, dict[str, int]] = {"rejected": {}, "fault": {}, "scripted": {}}
            for name, value in sorted(c.items()):
                prefix, _, rest = name.partition("_")
                if prefix in prefixed:
                    prefixed[prefix][rest] = value
            by_date = store.items_by_date(self.db)
            return {
                "requests": c["requests"],
                "applied_batches": c["applied_batches"],
                "replayed_batches": c["replayed_batches"],
                "duplicate_key_conflicts": c["duplicate_key_conflicts"],
                "items_applied": c["items_applied"],
                "unique_items": sum(by_date.values()),
                "duplicate_items": c["duplicate_items"],
                "rejected": prefixed["rejected"],
                "faults": prefixed["fault"],
                "scripted": prefixed["scripted"],
                "by_date": by_date,
            }

    def applied_items(self, as_of: str) -> dict[str, dict[str, Any]]:
        """item_id -> {"count", "receipt", "item"} for one date (a copy)."""
        with self.lock:
            return store.items_on(self.db, as_of)

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _receipt(key: str, batch: dict[str, Any]) -> dict[str, Any]:
    return {"receipt": batch["receipt"], "batch_key": key, "items": batch["items"]}


def _safe_name(name: Any) -> str | None:
    return name if isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name) else None


def _check_item(item: Any, seen: set[str]) -> None:
    if not isinstance(item, dict):
        raise RejectedError(400, "invalid_item")
    for name in item:
        if name not in FIELDS_BY_NAME:
            raise RejectedError(400, "unknown_field", _safe_name(name))
    for f in FIELDS:
        value = item.get(f.name)
        if value is None:
            if f.required:
                raise RejectedError(400, "missing_field", f.name)
            continue
        ok = {
            "string": isinstance(value, str) and (value != "" or not f.required),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }.get(f.kind)
        if ok is None:
            ok = isinstance(value, str) and bool(_KIND_PATTERNS[f.kind].match(value))
        if not ok:
            raise RejectedError(400, "invalid_value", f.name)
    if item["item_id"] in seen:
        raise RejectedError(400, "duplicate_item", "item_id")
    seen.add(item["item_id"])


def validate_batch(body: Any, idempotency_key: str | None, max_items: int) -> None:
    """Raise ``RejectedError`` unless ``body`` is a well-formed batch under the allow-list."""
    if not isinstance(body, dict):
        raise RejectedError(400, "invalid_json")
    for name in body:
        if name not in _TOP_LEVEL:
            raise RejectedError(400, "unknown_field", _safe_name(name))
    for name in sorted(_TOP_LEVEL):
        if name not in body:
            raise RejectedError(400, "missing_field", name)
    try:
        dt.date.fromisoformat(str(body["as_of_date"]))
    except ValueError:
        raise RejectedError(400, "invalid_value", "as_of_date") from None
    key = body["batch_key"]
    if not isinstance(key, str) or not _KEY.match(key):
        raise RejectedError(400, "invalid_value", "batch_key")
    if not idempotency_key:
        raise RejectedError(400, "missing_idempotency_key")
    if idempotency_key != key:
        raise RejectedError(400, "idempotency_key_mismatch")
    items = body["items"]
    if not isinstance(items, list) or not items:
        raise RejectedError(400, "empty_batch", "items")
    if len(items) > max_items:
        raise RejectedError(400, "too_many_items", "items")
    seen: set[str] = set()
    for item in items:
        _check_item(item, seen)


class CrmHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        state: CrmState,
        faults: Faults,
        token: str | None,
        endpoint: str,
        max_batch_items: int,
        script: tuple[str, ...] = (),
        reject: ItemRule | None = None,
        trickle_seconds: float = 0.2,
    ) -> None:
        unknown = set(script) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown scripted behaviour(s): {sorted(unknown)}")
        super().__init__(address, _Handler)
        self.script = script
        self.reject = reject
        self.trickle_seconds = trickle_seconds
        self.state = state
        self.faults = faults
        self.token = token
        self.endpoint = "/" + endpoint.strip("/")
        self.max_batch_items = max_batch_items
        self._rng = random.Random(faults.seed)
        self._rng_lock = threading.Lock()

    def draw_fault(self) -> Fault | None:
        """Four draws per request whatever happens, so a seed fixes the whole sequence."""
        with self._rng_lock:
            r, after, variant, _spare = (self._rng.random() for _ in range(4))
        f = self.faults
        after_apply = after < f.after_apply_share
        if r < f.fail_rate:
            return Fault("http_503" if variant < 0.5 else "http_500", after_apply)
        if r < f.fail_rate + f.drop_rate:
            return Fault("reset" if variant < 0.5 else "drop", after_apply)
        if r < f.fail_rate + f.drop_rate + f.slow_rate:
            return Fault("slow", after_apply)
        return None

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("CRM stand-in: connection from %s ended abruptly", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API behind a load balancer
    server_version = "npl-crm-standin/1"
    server: CrmHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("CRM stand-in: " + format, *args)

    def _send(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
        trickle: float = 0.0,
    ) -> None:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(data)
                return
            for i in range(len(data)):  # every byte well within any read timeout
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(trickle)
        except OSError:  # the client gave up (timed out) before the answer
            self.close_connection = True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/stats":
            self._send(200, self.server.state.stats())
        elif parts.path == "/items":
            as_of = (parse_qs(parts.query).get("as_of_date") or [""])[0]
            self._send(200, {"as_of_date": as_of, "items": self.server.state.applied_items(as_of)})
        elif parts.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, {"error": "payload_too_large"})
            return
        raw = self.rfile.read(length)
        if urlsplit(self.path).path != srv.endpoint:
            self._send(404, {"error": "not_found"})
            return
        srv.state.count("requests")
        key = self.headers.get("Idempotency-Key") or ""
        n = srv.state.next_request_no(key)
        if n < len(srv.script):
            srv.state.count(f"scripted_{srv.script[n]}")
            self._scripted(srv.script[n], raw)
            return
        fault = srv.draw_fault()
        if fault is None:
            self._send(*self._process(raw))
            return
        srv.state.count(f"fault_{fault.kind}")
        if fault.after_apply:
            srv.state.count("fault_after_apply")
        if fault.kind == "slow":  # stuck before or after applying; answered too late either way
            if not fault.after_apply:
                time.sleep(srv.faults.slow_seconds)
            answer = self._process(raw)
            if fault.after_apply:
                time.sleep(srv.faults.slow_seconds)
            self._send(*answer)
            return
        if fault.after_apply:
            self._process(raw)  # applied, but the client never hears about it
        self._misbehave(fault)

    def _scripted(self, behaviour: str, raw: bytes) -> None:
        """What a contract-following CRM may do, on request (see the module docstring)."""
        if behaviour == "in_progress":
            body = {"status": "in_progress", "error": "request_in_progress"}
            self._send(409, body, {"Retry-After": "0"})
            return
        if behaviour == "unavailable_date":
            later = time.time() + 2
            retry_at = email.utils.formatdate(later, usegmt=True)
            self._send(503, {"error": "unavailable"}, {"Retry-After": retry_at})
            return
        status, answer = self._process(raw)  # the rest apply the batch first
        if behaviour == "wrong_key" and "batch_key" in answer:
            answer["batch_key"] = hashlib.sha256(answer["batch_key"].encode()).hexdigest()
        elif behaviour == "no_key":
            answer.pop("batch_key", None)
        if behaviour == "broken_encoding":
            self._send(status, answer, {"Content-Encoding": "gzip"}, raw=b"not gzip at all")
        elif behaviour == "trickle":
            self._send(status, answer, trickle=self.server.trickle_seconds)
        else:
            self._send(status, answer)

    def _refusal(self, items: list[dict[str, Any]]) -> RejectedError | None:
        rule = self.server.reject
        for item in items if rule else ():
            found = rule(item)  # type: ignore[misc]
            if found is not None:
                return RejectedError(422, found[0], found[1])
        return None

    def _process(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        srv = self.server
        try:
            if srv.token:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {srv.token}".encode()):
                    raise RejectedError(401, "unauthorized")
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                raise RejectedError(415, "unsupported_media_type")
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise RejectedError(400, "invalid_json") from None
            validate_batch(body, self.headers.get("Idempotency-Key"), srv.max_batch_items)
            if (refused := self._refusal(body["items"])) is not None:
                raise refused
        except RejectedError as exc:
            srv.state.count(f"rejected_{exc.status}")
            answer = {"error": exc.code, **({"field": exc.field} if exc.field else {})}
            return exc.status, answer
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        body_sha = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return srv.state.submit(body["as_of_date"], body["batch_key"], body_sha, body["items"])

    def _misbehave(self, fault: Fault) -> None:
        """Answer 500/503, or close (FIN) / reset (RST) the connection without a response."""
        if fault.kind in ("http_500", "http_503"):
            status = int(fault.kind[-3:])
            headers = {"Retry-After": "1"} if status == 503 else None
            self._send(status, {"error": "unavailable" if status == 503 else "internal"}, headers)
            return
        self.close_connection = True
        try:
            if fault.kind == "reset":
                linger = struct.pack("ii", 1, 0)  # close with RST: "connection reset by peer"
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@dataclass
class RunningCrm:
    """A stand-in CRM serving in a background thread; ``stop()`` (or ``with``) ends it."""

    url: str  # the batch endpoint, e.g. http://127.0.0.1:PORT/api/v1/worklist-batches
    base_url: str
    server: CrmHttpServer
    thread: threading.Thread

    @property
    def state(self) -> CrmState:
        return self.server.state

    def stats(self) -> dict[str, Any]:
        return self.server.state.stats()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningCrm:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_crm_server(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    fail_rate: float = 0.0,
    drop_rate: float = 0.0,
    slow_rate: float = 0.0,
    slow_seconds: float = 1.0,
    after_apply_share: float = 0.5,
    seed: int = 0,
    token: str | None = None,
    state_file: Path | str | None = None,
    max_batch_items: int = 1000,
    endpoint: str = DEFAULT_ENDPOINT,
    script: tuple[str, ...] = (),
    reject: ItemRule | None = None,
    receipt_style: str = "string",
    trickle_seconds: float = 0.2,
) -> RunningCrm:
    """Start the stand-in CRM in a daemon thread (``port=0``: any free port)."""
    faults = Faults(fail_rate, drop_rate, slow_rate, slow_seconds, after_apply_share, seed)
    server = CrmHttpServer(
        (host, port),
        state=CrmState(Path(state_file) if state_file else None, receipt_style),
        faults=faults,
        token=token,
        endpoint=endpoint,
        max_batch_items=max_batch_items,
        script=script,
        reject=reject,
        trickle_seconds=trickle_seconds,
    )
    bound_host, bound_port = server.server_address[:2]
    base = f"http://{bound_host}:{bound_port}"
    thread = threading.Thread(target=server.serve_forever, name="crm-standin", daemon=True)
    thread.start()
    return RunningCrm(url=base + server.endpoint, base_url=base, server=server, thread=thread)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=1.0)
    parser.add_argument("--after-apply-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", type=Path, default=None, help="SQLite file that keeps state")
    parser.add_argument("--max-batch-items", type=int, default=1000)
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    parser.add_argument(
        "--script",
        default="",
        help="comma-separated behaviours for each key's 1st, 2nd, ... request: "
        + ", ".join(sorted(BEHAVIOURS)),
    )
    parser.add_argument("--receipt-style", choices=sorted(RECEIPT_STYLES), default="string")
    args = parser.parse_args(argv)
    token = os.environ.get("NPL_CRM_STANDIN_TOKEN") or None  # env, not argv: ps shows argv
    running = start_crm_server(
        args.port,
        args.host,
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        after_apply_share=args.after_apply_share,
        seed=args.seed,
        token=token,
        state_file=args.state,
        max_batch_items=args.max_batch_items,
        endpoint=args.endpoint,
        script=tuple(b for b in args.script.split(",") if b),
        receipt_style=args.receipt_style,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"CRM stand-in listening on {running.url} (stats: {running.base_url}/stats)", flush=True)
    try:
        stop.wait()
    finally:
        running.stop()
        print(json.dumps(running.stats(), indent=2), flush=True)


if __name__ == "__main__":
    main()

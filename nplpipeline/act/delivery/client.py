"""Pushing one batch to the CRM: POST with an idempotency key, retry what is transient.

Built on **httpx** (not requests): its exception tree separates timeouts
(``httpx.TimeoutException``) from other transport failures (``httpx.TransportError``:
refused, reset, closed without a response) without digging into urllib3 internals, its
timeouts cover connect, read, write and pool separately, and it never retries behind
our back -- every retry here is counted and logged.

Server contract (see ``docs/crm-payload.md``): ``201`` applied, ``200`` replay of a key
already applied with the same body, ``409`` with ``{"status": "duplicate"}`` key already
applied with a different body -- all three carry a ``receipt`` and count as acknowledged.
``429``, ``5xx``, timeouts and connection errors are retried with exponential backoff and
jitter (honouring ``Retry-After``); any other status fails at once. Errors name the
status, the batch key and the CRM's error *code*; never payload values or the token.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from nplpipeline.act.delivery.crm_config import CrmEndpoint

log = logging.getLogger(__name__)

_SAFE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # an error code or field name, not a value
_RETRY_STATUSES = frozenset({429})


class CrmDeliveryError(RuntimeError):
    """Delivery to the CRM did not complete; ``permanent`` says whether retrying can help."""

    permanent = False

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class CrmRejectedError(CrmDeliveryError):
    """The CRM refused a batch (4xx other than 429): fix the contract or config, not retry."""

    permanent = True

    def __init__(self, message: str, status: int, code: str | None, attempts: int) -> None:
        super().__init__(message, attempts)
        self.status = status
        self.code = code


class CrmUnavailableError(CrmDeliveryError):
    """Retries ran out on transient failures (5xx, 429, timeouts, dropped connections)."""

    def __init__(self, message: str, attempts: int, last_reason: str) -> None:
        super().__init__(message, attempts)
        self.last_reason = last_reason


@dataclass(frozen=True)
class PushResult:
    status: int
    receipt: str
    replayed: bool  # the CRM already held this batch (200 replay or 409 duplicate)
    attempts: int


def _safe(value: Any) -> str | None:
    return value if isinstance(value, str) and _SAFE_CODE.match(value) else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _receipt(body: Mapping[str, Any]) -> str | None:
    receipt = body.get("receipt")
    return receipt if isinstance(receipt, str) and 0 < len(receipt) <= 200 else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def encode_batch(as_of: dt.date, key: str, items: Sequence[Mapping[str, Any]]) -> bytes:
    """The request body: the same batch always gives the same bytes."""
    body = {"as_of_date": as_of.isoformat(), "batch_key": key, "items": list(items)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CrmClient:
    """A connection-pooled client for one CRM endpoint; use as a context manager."""

    def __init__(
        self,
        endpoint: CrmEndpoint,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._sleep = sleep
        self._rng = rng or random.Random()
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if endpoint.token:
            headers["Authorization"] = f"Bearer {endpoint.token}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(endpoint.timeout),
            follow_redirects=False,  # a redirect would resend the token elsewhere
            transport=transport,
        )

    def __enter__(self) -> CrmClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, jittered."""
        cap = min(self.endpoint.backoff_max, self.endpoint.backoff_base * 2 ** (attempt - 1))
        delay = self._rng.uniform(cap / 2, cap)  # "equal jitter": spread, but never zero
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.endpoint.backoff_max))
        return delay

    def push_batch(
        self, as_of: dt.date, key: str, items: Sequence[Mapping[str, Any]]
    ) -> PushResult:
        """Send one batch until the CRM acknowledges it, or raise ``CrmDeliveryError``."""
        body = encode_batch(as_of, key, items)
        headers = {"Idempotency-Key": key}
        short = key[:12]
        for attempt in range(1, self.endpoint.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.post(self.endpoint.url, content=body, headers=headers)
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as exc:
                reason = f"connection error ({type(exc).__name__})"
            else:
                status = response.status_code
                payload = _json(response)
                receipt = _receipt(payload)
                duplicate = status == 409 and payload.get("status") == "duplicate"
                if receipt and (status in (200, 201) or duplicate):
                    return PushResult(status, receipt, status != 201, attempt)
                if status in (200, 201):
                    reason = f"HTTP {status} without a receipt"
                elif status in _RETRY_STATUSES or status >= 500:
                    reason = f"HTTP {status}"
                    retry_after = _retry_after(response)
                else:
                    code, field = _safe(payload.get("error")), _safe(payload.get("field"))
                    detail = f" {code}" if code else ""
                    detail += f" (field {field})" if field else ""
                    raise CrmRejectedError(
                        f"CRM rejected batch {short} for {as_of}: HTTP {status}"
                        f" {response.reason_phrase}{detail}; not retried",
                        status=status,
                        code=code,
                        attempts=attempt,
                    )
            if attempt == self.endpoint.max_attempts:
                raise CrmUnavailableError(
                    f"CRM did not acknowledge batch {short} for {as_of} after {attempt}"
                    f" attempts (last: {reason})",
                    attempts=attempt,
                    last_reason=reason,
                )
            delay = self.backoff(attempt, retry_after)
            log.warning(
                "CRM batch %s attempt %d/%d failed (%s); retrying in %.2fs",
                short,
                attempt,
                self.endpoint.max_attempts,
                reason,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

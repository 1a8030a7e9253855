"""Pushing one batch to the CRM: POST with an idempotency key, retry what is transient.

Built on **httpx** (not requests): its exception tree separates timeouts, transport and
decoding failures without digging into urllib3 internals, its timeouts cover connect,
read, write and pool separately, and it never retries behind our back. The retry loop
is **tenacity** (already pinned by Airflow): stop after ``max_attempts``, wait the
jittered backoff or the server's ``Retry-After``, sleep through an injectable function
-- the loop reads as its policy instead of as bookkeeping.

Server contract (see ``docs/crm-payload.md``): ``201`` applied, ``200`` replay of a key
already applied with the same body, ``409`` with ``{"status": "duplicate"}`` key already
applied with a different body. Each is an acknowledgement **only when its body names
the batch key that was sent and carries a receipt** (a string or an integer); anything
else is a failed try. ``408``, ``409`` (still processing), ``425``, ``429``, ``5xx``,
timeouts, the per-request deadline, every transport and decoding error are retried
with exponential backoff and jitter, honouring ``Retry-After`` as seconds or as an
HTTP-date. Any other status raises ``CrmRejectedError`` at once. Errors name the status,
the batch key and the CRM's error *code*; never payload values or the token.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from nplpipeline.act.delivery.crm_config import CrmEndpoint

log = logging.getLogger(__name__)

_SAFE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # an error code or field name, not a value
_RETRY_STATUSES = frozenset({408, 409, 425, 429})  # 409: the key's first request still runs
MAX_RECEIPT_CHARS = 4096  # a receipt is text of 1..4096 characters, or an integer
_MAX_BODY_BYTES = 1 << 20  # an acknowledgement is small; a larger body is not one


class CrmDeliveryError(RuntimeError):
    """Delivery to the CRM did not complete; ``permanent`` says whether retrying can help."""

    permanent = False

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class CrmRejectedError(CrmDeliveryError):
    """The CRM refused a batch (a 4xx that is not retryable): it did not apply it."""

    permanent = True

    def __init__(self, message: str, status: int, code: str | None, attempts: int) -> None:
        super().__init__(message, attempts)
        self.status = status
        self.code = code
        self.field: str | None = None


class CrmUnavailableError(CrmDeliveryError):
    """Retries ran out on transient failures (5xx, 409, 429, timeouts, broken answers)."""

    def __init__(self, message: str, attempts: int, last_reason: str) -> None:
        super().__init__(message, attempts)
        self.last_reason = last_reason


class _FailedTryError(Exception):
    """One try that did not give an acknowledgement and may be retried."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class PushResult:
    status: int
    receipt: str
    replayed: bool  # the CRM already held this batch (200 replay or 409 duplicate)
    attempts: int


def _safe(value: Any) -> str | None:
    return value if isinstance(value, str) and _SAFE_CODE.match(value) else None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError
        return {}
    return body if isinstance(body, dict) else {}


def receipt_text(value: Any) -> str | None:
    """The receipt as text: a non-blank string up to ``MAX_RECEIPT_CHARS``, or an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= MAX_RECEIPT_CHARS:
        return value
    return None


def retry_after_seconds(headers: httpx.Headers, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds, or an HTTP-date.

    An HTTP-date is measured against the response's own ``Date`` header when it has one
    (the server's clock against the server's clock: immune to skew), else against ``now``.
    """
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now or dt.datetime.now(dt.UTC)
    if date := headers.get("Date"):
        with contextlib.suppress(TypeError, ValueError):
            reference = email.utils.parsedate_to_datetime(date)
    if when.tzinfo is None or reference.tzinfo is None:
        when, reference = when.replace(tzinfo=dt.UTC), reference.replace(tzinfo=dt.UTC)
    return max(0.0, (when - reference).total_seconds())


def encode_batch(as_of: dt.date, key: str, items: Sequence[Mapping[str, Any]]) -> bytes:
    """The request body: the same batch always gives the same bytes."""
    body = {"as_of_date": as_of.isoformat(), "batch_key": key, "items": list(items)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _acknowledgement(status: int, body: Mapping[str, Any], key: str) -> str | None:
    """The receipt when this answer acknowledges *this* batch, else ``None``."""
    duplicate = status == 409 and body.get("status") == "duplicate"
    if status not in (200, 201) and not duplicate:
        return None
    if body.get("batch_key") != key:
        return None
    return receipt_text(body.get("receipt"))


def _why_not(status: int, body: Mapping[str, Any], key: str) -> str:
    """Why an answer is not an acknowledgement (codes and counts only, never values)."""
    claims_ack = status in (200, 201) or (status == 409 and body.get("status") == "duplicate")
    if claims_ack and body.get("batch_key") != key:
        named = "another batch" if body.get("batch_key") else "no batch key"
        return f"HTTP {status} naming {named}"
    if claims_ack:
        return f"HTTP {status} without a valid receipt"
    return f"HTTP {status}"


class CrmClient:
    """A connection-pooled client for one CRM endpoint; use as a context manager."""

    def __init__(
        self,
        endpoint: CrmEndpoint,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
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

    def _exchange(self, body: bytes, key: str) -> tuple[int, httpx.Headers, bytes]:
        """One request; the whole answer must arrive within the endpoint's deadline.

        A trickled body keeps every single read under the read timeout, so the deadline
        is checked between chunks: a request ends at most one read timeout past it.
        """
        deadline = self._clock() + self.endpoint.deadline
        headers = {"Idempotency-Key": key}
        try:
            with self._http.stream(
                "POST", self.endpoint.url, content=body, headers=headers
            ) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if self._clock() > deadline:
                        raise _FailedTryError("deadline exceeded while reading the answer")
                    if size > _MAX_BODY_BYTES:
                        raise _FailedTryError("answer larger than an acknowledgement can be")
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        except httpx.TimeoutException:
            raise _FailedTryError("timeout") from None
        except httpx.HTTPError as exc:  # transport, protocol and decoding errors alike
            raise _FailedTryError(f"broken exchange ({type(exc).__name__})") from None

    def _try_once(self, as_of: dt.date, key: str, body: bytes, attempt: int) -> PushResult:
        status, headers, raw = self._exchange(body, key)
        payload = _json(raw)
        receipt = _acknowledgement(status, payload, key)
        if receipt is not None:
            return PushResult(status, receipt, status != 201, attempt)
        if status < 400 or status in _RETRY_STATUSES or status >= 500:
            raise _FailedTryError(_why_not(status, payload, key), retry_after_seconds(headers))
        code, field = _safe(payload.get("error")), _safe(payload.get("field"))
        detail = f" {code}" if code else ""
        detail += f" (field {field})" if field else ""
        error = CrmRejectedError(
            f"CRM rejected batch {key[:12]} for {as_of}: HTTP {status}{detail}; not retried",
            status=status,
            code=code,
            attempts=attempt,
        )
        error.field = field
        raise error

    def push_batch(
        self, as_of: dt.date, key: str, items: Sequence[Mapping[str, Any]]
    ) -> PushResult:
        """Send one batch until the CRM acknowledges it, or raise ``CrmDeliveryError``."""
        body = encode_batch(as_of, key, items)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.endpoint.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_FailedTryError),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(key, state),
            reraise=True,
        )
        attempt = 0
        try:
            for try_ in retrying:
                with try_:
                    attempt = try_.retry_state.attempt_number
                    return self._try_once(as_of, key, body, attempt)
        except _FailedTryError as exc:
            raise CrmUnavailableError(
                f"CRM did not acknowledge batch {key[:12]} for {as_of} after {attempt}"
                f" attempts (last: {exc.reason})",
                attempts=attempt,
                last_reason=exc.reason,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        retry_after = failure.retry_after if isinstance(failure, _FailedTryError) else None
        return self.backoff(state.attempt_number, retry_after)

    def _log_retry(self, key: str, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "CRM batch %s attempt %d/%d failed (%s); retrying in %.2fs",
            key[:12],
            state.attempt_number,
            self.endpoint.max_attempts,
            failure.reason if isinstance(failure, _FailedTryError) else "error",
            state.upcoming_sleep,
        )

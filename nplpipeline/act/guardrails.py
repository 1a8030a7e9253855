"""Fair-collection guardrails: filter a proposed worklist so no contact breaks a rule.

Every candidate ends up either in ``allowed`` or in ``suppressed`` with exactly one
stable reason code (the first rule it breaks, in ``REASON_ORDER``), so the suppression
log explains every held-back account. All work is vectorised: history is reduced to
per-debtor / per-loan / per-number counts with groupby, joined onto the candidates, and
masks decide. Caps are applied last and in candidate order (the caller's priority), so a
cap slot is only spent on a candidate that passes every other rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from nplpipeline.act.guardrails_config import STRICTEST, GuardrailPolicy
from nplpipeline.keys import isin

REASON_ORDER: tuple[str, ...] = (
    "missing:customer",
    "flag:<name>",
    "invalid:timezone",
    "third_party",
    "cooling_off:ptp_pending",
    "cooling_off:conversation",
    "window:outside_contact_hours",
    "cap:call_attempts_day_number",
    "cap:connected_calls_day_debtor",
    "cap:call_attempts_7d_debt",
)
_NUMBER_COL = "phone_number"


@dataclass(frozen=True)
class GuardrailResult:
    allowed: pd.DataFrame
    suppressed: pd.DataFrame  # the suppression log: one row per held-back candidate


class _Reasons:
    """First-reason-wins bookkeeping, so each candidate carries exactly one code."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="string")
        self.route = pd.Series(pd.NA, index=index, dtype="string")

    def mark(self, mask: pd.Series, code: str, route: str | None = None) -> None:
        hit = mask.fillna(False).astype(bool) & self.reason.isna()
        self.reason[hit] = code
        if route is not None:
            self.route[hit] = route

    @property
    def open(self) -> pd.Series:
        return self.reason.isna()


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``keys.map(table)`` that also survives an empty or oddly-typed table."""
    if table.index.has_duplicates:
        raise ValueError("lookup table must be keyed uniquely")
    vals = table.reindex(pd.Index(keys.to_numpy(dtype=object), dtype=object))
    return pd.Series(vals.to_numpy(), index=keys.index)


def _seconds_of_day(s: pd.Series) -> pd.Series:
    """Local clock time as seconds after midnight; accepts timestamps, time or 'HH:MM[:SS]'."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return (s - s.dt.normalize()).dt.total_seconds()
    txt = s.astype("string").str.strip()
    txt = txt.where(txt.str.len() != 5, txt + ":00")
    return pd.to_timedelta(txt, errors="coerce").dt.total_seconds()


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _valid_timezones(tz: pd.Series) -> pd.Series:
    """Check each *distinct* zone once (a handful), not each account."""
    ok: dict[str, bool] = {}
    for name in tz.dropna().unique():
        try:
            ZoneInfo(str(name))
            ok[name] = True
        except (KeyError, ValueError, OSError):
            ok[name] = False
    return tz.map(ok).fillna(False).astype(bool)


def _window_utc(tz: pd.Series, run_date: date, t: time, valid: pd.Series) -> pd.Series:
    """The local window edge as a UTC instant, for dialers that schedule in UTC."""
    out = pd.Series(pd.NaT, index=tz.index, dtype="datetime64[ns, UTC]")
    local = datetime.combine(run_date, t)
    for name in tz[valid].unique():
        out[tz == name] = pd.Timestamp(local, tz=str(name)).tz_convert("UTC")
    return out


def _prepare_history(history: pd.DataFrame, run_date: date, p: GuardrailPolicy) -> pd.DataFrame:
    h = history.copy()
    h["action_at"] = pd.to_datetime(h["action_at"])
    h["day"] = h["action_at"].dt.normalize()
    h = h[h["day"] <= pd.Timestamp(run_date)]  # later rows cannot exist yet; ignore them
    h["is_call"] = h["channel"].isin(p.call_channels)
    h["connected"] = h["is_call"] & ~h["outcome"].isin(p.unconnected_outcomes).fillna(False)
    h["conversation"] = h["is_call"] & h["outcome"].isin(p.conversation_outcomes).fillna(False)
    return h


def _ptp_pending_customers(h: pd.DataFrame, run_date: date) -> pd.Index:
    """Debtors with a promise due today or later and no ``paid`` outcome since on that loan."""
    ptp = h[(h["outcome"] == "promise_to_pay") & h["ptp_date"].notna()]
    ptp = ptp[pd.to_datetime(ptp["ptp_date"]) >= pd.Timestamp(run_date)]
    if ptp.empty:
        return pd.Index([])
    last_paid = h[h["outcome"] == "paid"].groupby("loan_id")["action_at"].max()
    paid_at = _lookup(ptp["loan_id"], last_paid)
    pending = ptp[paid_at.isna() | (paid_at < ptp["action_at"])]
    return pd.Index(pending["customer_id"].unique())


def _number_keys(cand: pd.DataFrame, h: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per-number key: the phone number when both sides carry it, else the debtor.

    Falling back to the debtor pools all of a debtor's numbers into one -- stricter.
    """
    if _NUMBER_COL in cand.columns and _NUMBER_COL in h.columns:
        ck = cand[_NUMBER_COL].astype("string").fillna("cust:" + cand["customer_id"])
        hk = h[_NUMBER_COL].astype("string").fillna("cust:" + h["customer_id"])
        return ck, hk
    return cand["customer_id"].astype("string"), h["customer_id"].astype("string")


def _apply_cap(
    r: _Reasons, cand: pd.DataFrame, key: str, used: pd.Series, cap: int | None, code: str
) -> None:
    """Allow a call only while history + earlier surviving candidates stay under the cap."""
    if cap is None:
        return
    live = r.open & cand["is_call"]
    sub = cand[live]
    rank = sub.groupby(key, sort=False).cumcount()
    spent = _lookup(sub[key], used).fillna(0).astype(int)
    r.mark((spent + rank >= cap).reindex(cand.index, fill_value=False), code)


def apply_guardrails(
    candidates: pd.DataFrame,
    customers: pd.DataFrame,
    history: pd.DataFrame,
    run_date: date,
    policy: GuardrailPolicy = STRICTEST,
) -> GuardrailResult:
    """Split proposed contacts for ``run_date`` (borrower-local) into allowed / suppressed.

    ``candidates``: loan_id, customer_id, channel, optional phone_owner (debtor |
    third_party; default debtor), planned_local_time, phone_number. Their order is their
    priority when a cap leaves room for only some. ``history``: collection_actions rows
    (``action_at`` is the customer's naive local time).
    """
    p = policy
    cand = candidates.reset_index(drop=True).copy()
    if "phone_owner" not in cand.columns:
        cand["phone_owner"] = "debtor"
    cand["phone_owner"] = cand["phone_owner"].fillna("debtor")
    cand["is_call"] = cand["channel"].isin(p.call_channels)
    r = _Reasons(cand.index)

    cust = customers.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    # Hash the candidates' customer ids once; every customer column is then a take.
    row = cust.index.get_indexer(cand["customer_id"].to_numpy(dtype=object))
    known = pd.Series(row >= 0, index=cand.index)

    def customer_column(name: str) -> pd.Series:
        values = cust[name].to_numpy(dtype=object)[np.where(row >= 0, row, 0)]
        return pd.Series(np.where(row >= 0, values, None), index=cand.index)

    r.mark(~known, "missing:customer", "special_handling")
    for flag, route in p.suppress_flags.items():  # loop over the 5 flags, not accounts
        if flag not in cust.columns:
            raise ValueError(f"customers lacks flag column {flag!r}: cannot prove it is unset")
        r.mark(customer_column(flag).astype("boolean"), f"flag:{flag}", route)

    cand["timezone"] = (
        customer_column("timezone").astype("string")
        if "timezone" in cust.columns
        else pd.Series(pd.NA, index=cand.index, dtype="string")
    ).fillna(p.default_timezone)
    tz_ok = _valid_timezones(cand["timezone"])
    r.mark(~tz_ok, "invalid:timezone", "special_handling")

    if not p.third_party_contact_allowed:
        r.mark(cand["phone_owner"] != "debtor", "third_party")

    h = _prepare_history(history, run_date, p)
    run_ts = pd.Timestamp(run_date)

    if p.ptp_pending_blocks_contact:
        pending = _ptp_pending_customers(h, run_date)
        r.mark(
            pd.Series(isin(cand["customer_id"], pending), index=cand.index)
            & cand["channel"].isin(p.ptp_blocked_channels),
            "cooling_off:ptp_pending",
        )

    if p.cooling_off_days_after_conversation is not None:
        last_conv = h[h["conversation"]].groupby("customer_id")["day"].max()
        days_since = (run_ts - _lookup(cand["customer_id"], last_conv)).dt.days
        r.mark(
            (days_since <= p.cooling_off_days_after_conversation)
            & cand["channel"].isin(p.cooling_off_channels),
            "cooling_off:conversation",
        )

    if "planned_local_time" in cand.columns:
        planned = cand["planned_local_time"]
        secs = _seconds_of_day(planned)
        inside = (secs >= _secs(p.window_start)) & (secs <= _secs(p.window_end))
        # A planned time that is present but unreadable is treated as outside.
        outside = planned.notna() & ~inside.fillna(False)
        r.mark(outside & cand["channel"].isin(p.timed_channels), "window:outside_contact_hours")

    cand["number_key"], h["number_key"] = _number_keys(cand, h)
    today = h[h["day"] == run_ts]
    week = h[h["day"] >= run_ts - pd.Timedelta(days=6)]  # the 7-day window ending today
    used_number = today[today["is_call"]].groupby("number_key").size()
    used_connected = today[today["connected"]].groupby("customer_id").size()
    used_debt = week[week["is_call"]].groupby("loan_id").size()
    caps = (
        (
            "number_key",
            used_number,
            p.max_call_attempts_per_number_per_day,
            "cap:call_attempts_day_number",
        ),
        (
            "customer_id",
            used_connected,
            p.max_connected_calls_per_debtor_per_day,
            "cap:connected_calls_day_debtor",
        ),
        (
            "loan_id",
            used_debt,
            p.max_call_attempts_per_debt_per_7_days,
            "cap:call_attempts_7d_debt",
        ),
    )
    for key, used, cap, code in caps:
        _apply_cap(r, cand, key, used, cap, code)

    allowed_mask = r.open
    allowed = cand[allowed_mask].copy()
    allowed["earliest_local_time"] = p.window_start
    allowed["latest_local_time"] = p.window_end
    allowed["window_start_utc"] = _window_utc(
        allowed["timezone"], run_date, p.window_start, tz_ok[allowed_mask]
    )
    allowed["window_end_utc"] = _window_utc(
        allowed["timezone"], run_date, p.window_end, tz_ok[allowed_mask]
    )
    # Room left today after this worklist's own calls (every allowed call assumed to connect).
    calls = allowed[allowed["is_call"]]
    for key, used, cap, col in (
        (
            "number_key",
            used_number,
            p.max_call_attempts_per_number_per_day,
            "remaining_call_attempts_number_today",
        ),
        (
            "customer_id",
            used_connected,
            p.max_connected_calls_per_debtor_per_day,
            "remaining_connected_calls_debtor_today",
        ),
        (
            "loan_id",
            used_debt,
            p.max_call_attempts_per_debt_per_7_days,
            "remaining_call_attempts_debt_7d",
        ),
    ):
        if cap is None:
            allowed[col] = pd.array([pd.NA] * len(allowed), dtype="Int64")
            continue
        taken = _lookup(allowed[key], calls.groupby(key).size()).fillna(0)
        spent = _lookup(allowed[key], used).fillna(0)
        allowed[col] = pd.array(np.maximum(cap - spent - taken, 0), dtype="Int64")

    suppressed = cand[~allowed_mask].copy()
    suppressed["reason"] = r.reason[~allowed_mask]
    suppressed["route"] = r.route[~allowed_mask]
    suppressed["run_date"] = run_date
    suppressed["policy"] = p.name
    drop = ["is_call", "number_key"]
    return GuardrailResult(
        allowed=allowed.drop(columns=drop),
        suppressed=suppressed.drop(columns=drop),
    )

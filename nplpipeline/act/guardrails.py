"""Fair-collection guardrails: filter a proposed worklist so no contact breaks a rule.

Every candidate ends up either in ``allowed`` or in ``suppressed`` with exactly one
stable reason code (the first rule it breaks, in ``REASON_ORDER``), so the suppression
log explains every held-back account. All work is vectorised: the history is put on one
clock and reduced to per-debtor / per-loan / per-number facts (``guardrail_history``),
joined onto the candidates, and masks decide. The three call caps are decided jointly
(``guardrail_caps``): a cap slot is spent only by a call that every rule allows.
``checks`` counts, per rule, the candidates it examined and held back -- the raw
material of the daily compliance report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np
import pandas as pd

from nplpipeline.act import guardrail_caps as caps
from nplpipeline.act.guardrail_clock import clock_seconds, day_starts, local_time_utc
from nplpipeline.act.guardrail_history import (
    NUMBER_COLUMN,
    CustomerView,
    instants_at,
    last_conversation,
    number_keys,
    open_dispute_customers,
    prepare_history,
    ptp_pending_customers,
    utc_ns,
    with_standing,
    wrong_party_numbers,
)
from nplpipeline.act.guardrails_config import STRICTEST, GuardrailPolicy
from nplpipeline.keys import isin

REASON_ORDER: tuple[str, ...] = (
    "missing:customer",
    "flag:<name>",
    "unknown_flag:<name>",
    "invalid:timezone",
    "third_party",
    "dispute:open_in_history",
    "cooling_off:ptp_pending",
    "cooling_off:conversation",
    "wrong_party:number",
    "window:outside_contact_hours",
    caps.NUMBER_CAP,
    caps.DEBTOR_CAP,
    caps.DEBT_CAP,
)
CHECK_COLUMNS = ["rule", "candidates_checked", "allowed", "suppressed"]
_INTERNAL = ["is_call", "number_key", "zone_ok", "master_row"]


@dataclass(frozen=True)
class GuardrailResult:
    allowed: pd.DataFrame
    suppressed: pd.DataFrame  # the suppression log: one row per held-back candidate
    checks: pd.DataFrame  # per rule: candidates checked, allowed, suppressed


class _Reasons:
    """First-reason-wins bookkeeping, so each candidate carries exactly one code, and a
    tally of what each rule examined and held back."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="string")
        self.route = pd.Series(pd.NA, index=index, dtype="string")
        self.tally: list[tuple[str, int, int]] = []

    def mark(
        self, mask: pd.Series, code: str, route: str | None = None, applies: object = True
    ) -> None:
        examined = self.open.to_numpy() & np.asarray(applies, dtype=bool)
        hit = pd.Series(np.asarray(mask.fillna(False), dtype=bool) & examined, index=mask.index)
        self.reason[hit] = code
        if route is not None:
            self.route[hit] = route
        self.tally.append((code, int(examined.sum()), int(hit.sum())))

    @property
    def open(self) -> pd.Series:
        return self.reason.isna()

    def checks(self) -> pd.DataFrame:
        t = pd.DataFrame(self.tally, columns=["rule", "candidates_checked", "suppressed"])
        t["allowed"] = t["candidates_checked"] - t["suppressed"]
        return t[CHECK_COLUMNS]


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _candidates(candidates: pd.DataFrame, cust: CustomerView, p: GuardrailPolicy) -> pd.DataFrame:
    cand = candidates.reset_index(drop=True).copy()
    owner = cand["phone_owner"] if "phone_owner" in cand.columns else pd.Series(None, cand.index)
    cand["phone_owner"] = owner.fillna("debtor")
    due = cand["schedulable"] if "schedulable" in cand.columns else pd.Series(True, cand.index)
    cand["schedulable"] = due.fillna(True).astype(bool)
    cand["is_call"] = cand["channel"].isin(p.call_channels)
    row = cust.rows(cand["customer_id"])  # hashed once; every customer column reads it
    cand["timezone"] = cust.at("_zone", row, cand.index, p.default_timezone).astype("string")
    cand["zone_ok"] = cust.at("_zone_ok", row, cand.index, False).astype(bool)
    explicit = cand[NUMBER_COLUMN] if NUMBER_COLUMN in cand.columns else None
    master = cust.at("_phone", row, cand.index)
    cand["number_key"] = number_keys(explicit, master, cand["customer_id"])
    cand["master_row"] = row
    return cand


def _account_rules(r: _Reasons, cand: pd.DataFrame, cust: CustomerView, p: GuardrailPolicy):
    """Holds on the whole account: unknown customer, flags (set or unknown), bad zone."""
    row = cand["master_row"].to_numpy()
    known = pd.Series(row >= 0, index=cand.index)
    r.mark(~known, "missing:customer", "special_handling")
    flags = {}
    for flag in p.suppress_flags:  # loop over the 5 flags, not accounts
        if flag not in cust.frame.columns:
            raise ValueError(f"customers lacks flag column {flag!r}: cannot prove it is unset")
        flags[flag] = cust.at(flag, row, cand.index).astype("boolean")
    for flag, route in p.suppress_flags.items():
        r.mark(flags[flag], f"flag:{flag}", route)
    if p.unknown_flags == "hold":
        for flag in p.suppress_flags:
            r.mark(flags[flag].isna(), f"unknown_flag:{flag}", p.unknown_flag_route)
    r.mark(~cand["zone_ok"], "invalid:timezone", "special_handling")
    if not p.third_party_contact_allowed:
        r.mark(cand["phone_owner"] != "debtor", "third_party")


def _history_rules(
    r: _Reasons,
    cand: pd.DataFrame,
    h: pd.DataFrame,
    cust: CustomerView,
    run_date: date,
    p: GuardrailPolicy,
) -> None:
    """Rules that look back: open dispute, pending promise, cooling-off, wrong party."""
    channel = cand["channel"]
    if p.dispute_in_history_blocks_contact:
        disputed = isin(cand["customer_id"], open_dispute_customers(h, cust, p))
        r.mark(
            pd.Series(disputed, index=cand.index),
            "dispute:open_in_history",
            p.dispute_route,
            applies=channel.isin(p.dispute_blocked_channels),
        )
    if p.ptp_pending_blocks_contact:
        pending = isin(cand["customer_id"], ptp_pending_customers(h, run_date))
        r.mark(
            pd.Series(pending, index=cand.index),
            "cooling_off:ptp_pending",
            applies=channel.isin(p.ptp_blocked_channels),
        )
    if p.cooling_off_days_after_conversation is not None:
        found, at = instants_at(last_conversation(h, p), cand["customer_id"])
        days = p.cooling_off_days_after_conversation
        since = day_starts(cand["timezone"], run_date - timedelta(days=days), cand["zone_ok"])
        r.mark(
            pd.Series(found & (at >= utc_ns(since)), index=cand.index),
            "cooling_off:conversation",
            applies=channel.isin(p.cooling_off_channels),
        )
    if p.wrong_party_blocks_number:
        wrong = isin(cand["number_key"], wrong_party_numbers(h))
        r.mark(
            pd.Series(wrong, index=cand.index),
            "wrong_party:number",
            applies=channel.isin(p.wrong_party_blocked_channels),
        )


def _window_rule(r: _Reasons, cand: pd.DataFrame, p: GuardrailPolicy) -> None:
    timed = cand["channel"].isin(p.timed_channels)
    if "planned_local_time" not in cand.columns:
        r.mark(pd.Series(False, index=cand.index), "window:outside_contact_hours", applies=timed)
        return
    planned = cand["planned_local_time"]
    secs = clock_seconds(planned)
    inside = (secs >= _secs(p.window_start)) & (secs <= _secs(p.window_end))
    # A planned time that is present but unreadable is treated as outside.
    outside = planned.notna() & ~inside.fillna(False)
    r.mark(outside, "window:outside_contact_hours", applies=timed)


def _cap_rules(
    r: _Reasons, cand: pd.DataFrame, h: pd.DataFrame, run_date: date, p: GuardrailPolicy
) -> dict[str, pd.Series]:
    """Decide the caps jointly over the open, schedulable calls; the room each leaves."""
    competing = (r.open & cand["is_call"] & cand["schedulable"]).to_numpy()
    sub = cand[competing]
    configured = caps.caps_for(sub, h, run_date, p)
    allowed, reason = caps.decide(sub, configured)
    for cap in configured:
        hit = pd.Series(False, index=cand.index)
        hit[sub.index] = (reason == cap.code).fillna(False).to_numpy()
        r.mark(hit, cap.code, applies=competing)
    room = caps.remaining(sub, allowed, configured)
    out = {}
    for column in (
        "remaining_call_attempts_number_today",
        "remaining_connected_calls_debtor_today",
        "remaining_call_attempts_debt_7d",
    ):
        values = pd.Series(pd.NA, index=cand.index, dtype="Int64")
        if column in room:
            values[sub.index] = room[column]
        out[column] = values
    return out


def apply_guardrails(
    candidates: pd.DataFrame,
    customers: pd.DataFrame,
    history: pd.DataFrame,
    run_date: date,
    policy: GuardrailPolicy = STRICTEST,
    agency_ids: Iterable[str] = (),
    standing: pd.DataFrame | None = None,
) -> GuardrailResult:
    """Split proposed contacts for ``run_date`` (borrower-local) into allowed / suppressed.

    ``candidates``: loan_id, customer_id, channel; optional phone_owner (debtor |
    third_party; default debtor), planned_local_time, phone_number (else the customer
    master's ``phone``), schedulable (False: not a contact today -- checked, but spends no
    cap slot). Their order is their priority when a cap leaves room for only some.
    ``customers``: the master (timezone, flags, optional phone, updated_at). ``history``:
    collection_actions rows (naive ``action_at`` on the customer's clock, offset ones
    converted). ``agency_ids``: agencies whose call-channel actions are agency contacts.
    ``standing``: contacts from before ``history``'s window that still bind (open
    disputes, promises still due, last answered calls; ``stg_standing_contacts``).
    """
    p = policy
    cust = CustomerView.build(customers, p)
    cand = _candidates(candidates, cust, p)
    r = _Reasons(cand.index)
    _account_rules(r, cand, cust, p)
    h = prepare_history(with_standing(history, standing), cust, run_date, p, agency_ids)
    _history_rules(r, cand, h, cust, run_date, p)
    _window_rule(r, cand, p)
    room = _cap_rules(r, cand, h, run_date, p)
    return _result(cand, r, room, run_date, p)


def _result(
    cand: pd.DataFrame, r: _Reasons, room: dict[str, pd.Series], run_date: date, p: GuardrailPolicy
) -> GuardrailResult:
    ok = r.open.to_numpy()
    allowed = cand[ok].assign(**{k: v[ok] for k, v in room.items()})
    allowed["earliest_local_time"] = p.window_start
    allowed["latest_local_time"] = p.window_end
    for column, at in (("window_start_utc", p.window_start), ("window_end_utc", p.window_end)):
        allowed[column] = local_time_utc(allowed["timezone"], run_date, at, allowed["zone_ok"])
    suppressed = cand[~ok].copy()
    suppressed["reason"] = r.reason[~ok]
    suppressed["route"] = r.route[~ok]
    suppressed["run_date"] = run_date
    suppressed["policy"] = p.name
    return GuardrailResult(
        allowed=allowed.drop(columns=_INTERNAL),
        suppressed=suppressed.drop(columns=_INTERNAL),
        checks=r.checks(),
    )

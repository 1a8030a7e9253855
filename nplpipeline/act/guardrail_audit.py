"""Defence in depth: re-count every rule over the *scheduled* worklist before delivery.

``apply_guardrails`` decides with vectorised joins, joint caps and first-reason-wins
bookkeeping; this module shares none of that. It takes the final worklist, adds each
scheduled call to the history as if it connected, and counts each rule again with the
plainest groupbys it can, reading the vocabulary from ``nplpipeline.contract`` and only
the timestamp parsing from ``guardrail_clock``. Any breach raises
``GuardrailBreachError`` naming the rule and the worklist item ids -- never a phone
number, name or other row value -- so the task fails and nothing is delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from nplpipeline.act.guardrail_clock import clock_seconds, to_instants
from nplpipeline.act.guardrail_history import with_standing
from nplpipeline.act.guardrails_config import GuardrailPolicy
from nplpipeline.contract import (
    CONVERSATION_OUTCOMES,
    UNCONNECTED_OUTCOMES,
    is_call_attempt,
    is_connected_call,
    is_right_party_call,
)

_SHOWN_IDS = 20


class GuardrailBreachError(RuntimeError):
    """A scheduled contact breaks a fair-collection rule. Permanent: rerunning the same
    inputs gives the same worklist, so the DAG fails fast instead of retrying."""

    permanent = True

    def __init__(self, breaches: dict[str, list[str]]) -> None:
        self.breaches = breaches
        parts = [
            f"{rule}: {len(ids)} item(s) {sorted(ids)[:_SHOWN_IDS]}"
            for rule, ids in sorted(breaches.items())
        ]
        super().__init__("post-scheduling audit found breaches -- " + "; ".join(parts))


@dataclass(frozen=True)
class AuditResult:
    checked: dict[str, int]  # rule -> scheduled items the rule was re-counted for
    breaches: dict[str, list[str]]  # rule -> item ids that break it

    @property
    def ok(self) -> bool:
        return not self.breaches


def _digits(s: pd.Series) -> pd.Series:
    text = s.astype("string").str.replace(r"[^\d+]", "", regex=True)
    return text.where(text.str.len() > 0)


def _local_dates(instants: pd.Series, zones: pd.Series) -> pd.Series:
    """Calendar date of each instant on the given zone's clock."""
    out = pd.Series(pd.NaT, index=instants.index, dtype="datetime64[ns]")
    for zone in zones.dropna().unique():
        m = (zones == zone).to_numpy()
        out[m] = instants[m].dt.tz_convert(str(zone)).dt.tz_localize(None).dt.normalize()
    return out


class _Audit:
    def __init__(self, items, customers, history, run_date, p, agency_ids) -> None:
        self.p, self.run = p, pd.Timestamp(run_date)
        self.items = items.reset_index(drop=True)
        self.cust = customers.drop_duplicates("customer_id", keep="last").set_index("customer_id")
        tz = self.cust["timezone"] if "timezone" in self.cust else pd.Series(None, self.cust.index)
        self.zone_of = tz.astype("string").fillna(p.default_timezone)
        self.phone_of = _digits(self.cust["phone"]) if "phone" in self.cust else None
        self.h = self._history(history, set(agency_ids))
        self.checked: dict[str, int] = {}
        self.breaches: dict[str, list[str]] = {}

    def _zone(self, customer_ids: pd.Series) -> pd.Series:
        z = self.zone_of.reindex(customer_ids.to_numpy()).fillna(self.p.default_timezone)
        ok = z.map({name: _zone_ok(name) for name in z.unique()}).astype(bool)
        return pd.Series(z.where(ok, self.p.default_timezone).to_numpy(), index=customer_ids.index)

    def _number(self, frame: pd.DataFrame) -> pd.Series:
        master = (
            self.phone_of.reindex(frame["customer_id"].to_numpy()).to_numpy()
            if self.phone_of is not None
            else None
        )
        number = pd.Series(master, index=frame.index, dtype="string")
        if "phone_number" in frame:
            number = _digits(frame["phone_number"]).fillna(number)
        return number.fillna("debtor:" + frame["customer_id"].astype("string"))

    def _history(self, history: pd.DataFrame, agency_ids: set[str]) -> pd.DataFrame:
        h = history.reset_index(drop=True).copy()
        zone = self._zone(h["customer_id"])
        h["instant"] = to_instants(h["action_at"], zone)
        h["outcome"] = h["outcome"].astype("string")
        h["number"] = self._number(h)
        h["call"] = is_call_attempt(h["channel"])
        h["connected"] = is_connected_call(h["channel"], h["outcome"])
        h["phone_conv"] = is_right_party_call(h["channel"], h["outcome"])
        h["agency_own"] = h["channel"].isin(self.p.agency_channels)
        h["agency_answered"] = h["agency_own"] & ~h["outcome"].isin(UNCONNECTED_OUTCOMES).fillna(
            False
        )
        h["day"] = _local_dates(h["instant"], zone)
        return h[h["day"] <= self.run]

    def flag(self, rule: str, mask: pd.Series, applies: pd.Series | None = None) -> None:
        applies = pd.Series(True, index=self.items.index) if applies is None else applies
        self.checked[rule] = int(applies.sum())
        hit = self.items.loc[(mask & applies).fillna(True).to_numpy(), "item_id"]
        if len(hit):
            self.breaches[rule] = [str(i) for i in hit]


def _zone_ok(name: object) -> bool:
    try:
        ZoneInfo(str(name))
        return True
    except (KeyError, ValueError, OSError):
        return False


def _account_checks(a: _Audit) -> None:
    it, p = a.items, a.p
    known = it["customer_id"].isin(a.cust.index)
    a.flag("missing:customer", ~known)
    for flag in p.suppress_flags:
        value = a.cust[flag].reindex(it["customer_id"].to_numpy()).astype("boolean").to_numpy()
        a.flag(f"flag:{flag}", pd.Series(value, index=it.index) == True)  # noqa: E712
        if p.unknown_flags == "hold":
            a.flag(f"unknown_flag:{flag}", pd.Series(pd.isna(value), index=it.index))
    zone = a.zone_of.reindex(it["customer_id"].to_numpy())
    valid = zone.map({name: _zone_ok(name) for name in zone.dropna().unique()})
    a.flag("invalid:timezone", pd.Series(~valid.fillna(False).to_numpy(dtype=bool), it.index))
    if not p.third_party_contact_allowed and "phone_owner" in it:
        a.flag("third_party", it["phone_owner"].fillna("debtor") != "debtor")


def _lookback_checks(a: _Audit) -> None:
    it, h, p = a.items, a.h, a.p
    if p.dispute_in_history_blocks_contact:
        last = h[h["outcome"] == "dispute"].groupby("customer_id")["instant"].max()
        upd = a.cust["updated_at"] if "updated_at" in a.cust else pd.Series(dtype=object)
        upd = to_instants(upd.reindex(last.index), a._zone(pd.Series(last.index, last.index)))
        closed = a.cust["dispute_open"].reindex(last.index).astype("boolean") == False  # noqa: E712
        still = last.index[~(closed.fillna(False) & (upd > last).fillna(False)).to_numpy()]
        a.flag(
            "dispute:open_in_history",
            it["customer_id"].isin(still),
            it["channel"].isin(p.dispute_blocked_channels),
        )
    if p.ptp_pending_blocks_contact:
        promised = h[(h["outcome"] == "promise_to_pay") & h["ptp_date"].notna()]
        promised = promised[pd.to_datetime(promised["ptp_date"]) >= a.run]
        paid = h[h["outcome"] == "paid"][["loan_id", "instant"]]
        m = promised.merge(paid, on="loan_id", how="left", suffixes=("", "_paid"))
        m["released"] = m["instant_paid"] >= m["instant"]
        open_ = m.groupby(["customer_id", "instant", "loan_id"])["released"].any()
        pending = open_[~open_.to_numpy(dtype=bool)].index.get_level_values("customer_id")
        a.flag(
            "cooling_off:ptp_pending",
            it["customer_id"].isin(pending),
            it["channel"].isin(p.ptp_blocked_channels),
        )
    if p.cooling_off_days_after_conversation is not None:
        conv = h["phone_conv"]
        if "cooling_off:conversation" in p.agency_contacts_count_for:
            conv = conv | (h["agency_own"] & h["outcome"].isin(CONVERSATION_OUTCOMES))
        since = a.run - timedelta(days=p.cooling_off_days_after_conversation)
        recent = set(h.loc[conv & (h["day"] >= since), "customer_id"])
        a.flag(
            "cooling_off:conversation",
            it["customer_id"].isin(recent),
            it["channel"].isin(p.cooling_off_channels),
        )


def _wrong_party_check(a: _Audit) -> None:
    it, h, p = a.items, a.h, a.p
    if not p.wrong_party_blocks_number:
        return
    answered = h[h["connected"]]
    last_time = answered.groupby("number")["instant"].max()
    at_last = answered[
        answered["instant"].to_numpy() == last_time.reindex(answered["number"]).to_numpy()
    ]
    wrong = set(at_last.loc[at_last["outcome"] == "wrong_party", "number"])
    a.flag(
        "wrong_party:number",
        a._number(it).isin(wrong),
        it["channel"].isin(p.wrong_party_blocked_channels),
    )


def _window_check(a: _Audit) -> None:
    it, p = a.items, a.p
    if "earliest_local_time" not in it:
        return
    start = clock_seconds(it["earliest_local_time"])
    end = clock_seconds(it["latest_local_time"])
    # an unreadable window bound is a breach: the CRM could not honour it
    outside = ~(start >= _secs(p.window_start)) | ~(end <= _secs(p.window_end))
    a.flag("window:outside_contact_hours", outside, it["channel"].isin(p.timed_channels))


def _secs(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _field_visit_check(a: _Audit) -> None:
    """A scheduled visit goes out with two different collectors (PRC guideline)."""
    it = a.items
    if "assignee_id" not in it:
        return
    lead, second = it["assignee_id"].astype("string"), it.get("second_assignee_id")
    second = (
        pd.Series(pd.NA, index=it.index, dtype="string")
        if second is None
        else second.astype("string")
    )
    alone = (lead.isna() | second.isna() | (lead == second)).fillna(True)
    a.flag("field_visit:two_staff", alone, it["channel"] == "visit")


def audit_worklist(
    items: pd.DataFrame,
    customers: pd.DataFrame,
    history: pd.DataFrame,
    run_date: date,
    policy: GuardrailPolicy,
    agency_ids: Iterable[str] = (),
    standing: pd.DataFrame | None = None,
) -> AuditResult:
    """Re-count every rule for the scheduled ``items`` (item_id, loan_id, customer_id,
    channel, window, remaining_call_attempts); the caller raises on breaches.
    ``standing``: older contacts that still bind, as for ``apply_guardrails``."""
    history = with_standing(history, standing)
    a = _Audit(items, customers, history, run_date, policy, agency_ids)
    if len(a.items):
        _account_checks(a)
        _lookback_checks(a)
        _wrong_party_check(a)
        _window_check(a)
        _field_visit_check(a)
        from nplpipeline.act.guardrail_audit_caps import cap_checks

        cap_checks(a)
    return AuditResult(checked=a.checked, breaches=a.breaches)


def enforce(result: AuditResult) -> None:
    if not result.ok:
        raise GuardrailBreachError(result.breaches)

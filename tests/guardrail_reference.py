"""A naive reference for the fair-collection rules, and adversarial generators for it.

The reference shares no code with ``nplpipeline.act``: each history row's instant comes
from ``datetime.fromisoformat`` + ``zoneinfo`` one row at a time, and every rule is a
plain Python loop over the rows written straight from ``domain.md``. Property tests use
it in both directions: nothing scheduled breaks a rule, and every candidate held back
breaks at least one rule given what was scheduled (so nothing is held back for nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import strategies as st

FLAGS = ["do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable"]
CALLS = {"call", "ivr"}
CONVERSATION = {"right_party_contact", "promise_to_pay", "refused", "dispute", "complaint", "paid"}
TIMED = {"sms", "call", "ivr", "app_push", "email", "visit"}
ALL_CHANNELS = {"sms", "call", "ivr", "app_push", "email", "letter", "visit", "legal", "agency"}
ZONES = [
    "Asia/Shanghai",
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # +10:30 / +11, a 30-minute DST shift
    "America/New_York",
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
    "Europe/London",
    "Asia/Urumqi",
]
# Plain days and DST-change days in the zones above.
RUN_DATES = [
    date(2026, 3, 10),
    date(2026, 3, 8),  # New York springs forward
    date(2026, 11, 1),  # New York falls back
    date(2026, 4, 5),  # Lord Howe and Chatham leave DST
    date(2026, 10, 4),  # Lord Howe enters DST
    date(2026, 3, 29),  # London springs forward
]
PHONES = ["+8613800000001", "+86 138 0000 0002", "+8613800000003", None]
OUTCOMES = [
    "no_answer",
    "no_answer",
    "wrong_party",
    "delivered",
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute",
    "complaint",
    "paid",
    None,
]
H_CHANNELS = ["call", "call", "call", "ivr", "sms", "agency", "visit"]
C_CHANNELS = ["call", "call", "call", "call", "ivr", "sms", "letter", "visit", "app_push"]
EDGE_TIMES = [
    time(0, 0),
    time(7, 59, 59),
    time(8),
    time(21),
    time(21, 0, 1),
    time(21, 59, 59),
    time(22),
    time(23, 59, 59),
]
OFFSETS = ["+00:00", "+08:00", "+05:45", "-03:30", "+14:00", "-11:00", "+12:45", "Z"]


def digits(n: object) -> str | None:
    if n is None or (isinstance(n, float) and pd.isna(n)):
        return None
    d = "".join(ch for ch in str(n) if ch.isdigit() or ch == "+")
    return d or None


@dataclass
class World:
    run: date
    customers: pd.DataFrame
    history: pd.DataFrame
    candidates: pd.DataFrame
    agency_ids: tuple[str, ...] = ("AG1",)
    zone_of: dict[str, str] = field(default_factory=dict)


# --- generators ----------------------------------------------------------------------

customer_row = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from([*ZONES, *ZONES, None, "Mars/Olympus"]),
        "phone": st.sampled_from(PHONES),
        "flags": st.lists(st.sampled_from([False] * 10 + [True, None]), min_size=5, max_size=5),
        "updated_days_ago": st.integers(0, 12),
    }
)
event_row = st.tuples(
    st.integers(0, 4),  # customer
    st.integers(0, 1),  # loan of that customer
    st.sampled_from([0, 0, 0, 0, 1, 2, 5, 6, 6, 7, 7, 8, 8, 9, -1]),  # days back
    st.one_of(st.sampled_from(EDGE_TIMES), st.times().map(lambda t: t.replace(microsecond=0))),
    st.sampled_from(H_CHANNELS),
    st.sampled_from(OUTCOMES),
    st.integers(-3, 5),  # ptp due, days after the run
    st.one_of(st.none(), st.sampled_from(OFFSETS)),  # explicit offset, else naive local
    st.booleans(),  # performed by the agency
)
candidate_row = st.tuples(
    st.integers(0, 5),  # C5 is not in the customer master
    st.integers(0, 1),
    st.sampled_from(C_CHANNELS),
    st.sampled_from(["debtor"] * 9 + ["third_party"]),
    st.one_of(st.none(), st.sampled_from(EDGE_TIMES)),
    st.sampled_from([True] * 9 + [False]),  # schedulable today
)


@st.composite
def worlds(draw, n_events: int = 40, n_candidates: int = 16) -> World:
    run = draw(st.sampled_from(RUN_DATES))
    custs = draw(st.lists(customer_row, min_size=5, max_size=5))
    events = draw(st.lists(event_row, max_size=n_events))
    cands = draw(st.lists(candidate_row, min_size=min(8, n_candidates), max_size=n_candidates))
    return build_world(run, custs, events, cands)


def _exists(local: datetime, zone: str) -> bool:
    z = ZoneInfo(zone)
    return local.replace(tzinfo=z).astimezone(UTC).astimezone(z).replace(tzinfo=None) == local


def _zone(tz: str | None, default: str = "Asia/Shanghai") -> str:
    if tz is None or pd.isna(tz):
        return default
    try:
        ZoneInfo(str(tz))
        return str(tz)
    except (KeyError, ValueError):
        return default


def build_world(run: date, custs, events, cands) -> World:
    rows, zone_of = [], {}
    for i, c in enumerate(custs):
        cid = f"C{i}"
        zone_of[cid] = _zone(c["timezone"])
        upd = datetime.combine(run - timedelta(days=c["updated_days_ago"]), time(12))
        rows.append(
            {
                "customer_id": cid,
                "timezone": c["timezone"],
                "phone": c["phone"],
                "updated_at": upd,
                **dict(zip(FLAGS, c["flags"], strict=True)),
            }
        )
    customers = pd.DataFrame(rows)
    hist = []
    for i, (ci, li, back, t, ch, out, ptp, off, by_agency) in enumerate(events):
        cid = f"C{ci}"
        local = datetime.combine(run - timedelta(days=back), t)
        if off is None and not _exists(local, zone_of[cid]):
            continue  # a wall time the DST change skipped cannot have been recorded
        stamp = local.isoformat() + (off or "")
        hist.append(
            {
                "action_id": f"a{i}",
                "loan_id": f"{cid}-L{li}",
                "customer_id": cid,
                "action_at": stamp,
                "channel": ch,
                "performed_by": "AG1" if by_agency or ch == "agency" else "E1",
                "outcome": out,
                "ptp_date": run + timedelta(days=ptp) if out == "promise_to_pay" else None,
            }
        )
    history = pd.DataFrame(
        hist,
        columns=[
            "action_id",
            "loan_id",
            "customer_id",
            "action_at",
            "channel",
            "performed_by",
            "outcome",
            "ptp_date",
        ],
    )
    candidates = pd.DataFrame(
        [
            {
                "cand_id": i,
                "loan_id": f"C{ci}-L{li}",
                "customer_id": f"C{ci}",
                "channel": ch,
                "phone_owner": owner,
                "planned_local_time": t,
                "schedulable": due,
            }
            for i, (ci, li, ch, owner, t, due) in enumerate(cands)
        ],
        columns=[
            "cand_id",
            "loan_id",
            "customer_id",
            "channel",
            "phone_owner",
            "planned_local_time",
            "schedulable",
        ],
    )
    return World(run, customers, history, candidates, zone_of=zone_of)


# --- the reference -----------------------------------------------------------------


def instant(stamp: str, zone: str) -> datetime:
    d = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=ZoneInfo(zone))
    return d.astimezone(UTC)


def local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


class Reference:
    """Every rule of ``domain.md`` counted by hand for one world and one policy."""

    def __init__(self, w: World, p) -> None:
        self.w, self.p = w, p
        self.cust = {r["customer_id"]: r for r in w.customers.to_dict("records")}
        self.zones = {cid: _zone(c["timezone"], p.default_timezone) for cid, c in self.cust.items()}
        self.rows = []
        for r in w.history.to_dict("records"):
            zone = self.zones.get(r["customer_id"], p.default_timezone)
            at = instant(r["action_at"], zone)
            if local_day(at, zone) > w.run:
                continue  # not yet happened on the debtor's calendar
            c = self.cust.get(r["customer_id"], {})
            number = digits(c.get("phone")) or f"debtor:{r['customer_id']}"
            self.rows.append({**r, "at": at, "zone": zone, "number": number})

    def zone(self, cid: str) -> str:
        return self.zones[cid]

    def number(self, cid: str) -> str:
        return digits(self.cust[cid].get("phone")) or f"debtor:{cid}"

    def _is_call(self, r) -> bool:
        return r["channel"] in CALLS

    def _answered(self, r) -> bool:
        return r["outcome"] != "no_answer"

    def account_rules(self, c) -> set[str]:
        p, broken = self.p, set()
        cu = self.cust.get(c["customer_id"])
        if cu is None:
            return {"missing:customer"}
        for f in p.suppress_flags:
            v = cu[f]
            if v is True:
                broken.add(f"flag:{f}")
            if v is None and p.unknown_flags == "hold":
                broken.add(f"unknown_flag:{f}")
        tz = cu["timezone"]
        try:
            ZoneInfo(str(p.default_timezone if tz is None or pd.isna(tz) else tz))
        except (KeyError, ValueError):
            broken.add("invalid:timezone")
        if c["phone_owner"] != "debtor" and not p.third_party_contact_allowed:
            broken.add("third_party")
        return broken

    def lookback_rules(self, c) -> set[str]:
        p, cid, ch, broken = self.p, c["customer_id"], c["channel"], set()
        mine = [r for r in self.rows if r["customer_id"] == cid]
        disputes = [r["at"] for r in mine if r["outcome"] == "dispute"]
        if p.dispute_in_history_blocks_contact and disputes and ch in p.dispute_blocked_channels:
            cu = self.cust[cid]
            upd = cu["updated_at"].replace(tzinfo=ZoneInfo(self.zone(cid)))
            if not (cu["dispute_open"] is False and upd > max(disputes)):
                broken.add("dispute:open_in_history")
        if p.ptp_pending_blocks_contact and ch in p.ptp_blocked_channels:
            for r in mine:
                if r["outcome"] == "promise_to_pay" and r["ptp_date"] >= self.w.run:
                    paid = any(
                        x["outcome"] == "paid"
                        and x["loan_id"] == r["loan_id"]
                        and x["at"] >= r["at"]
                        for x in self.rows
                    )
                    if not paid:
                        broken.add("cooling_off:ptp_pending")
        n = p.cooling_off_days_after_conversation
        if n is not None and ch in p.cooling_off_channels:
            for r in mine:
                days = (self.w.run - local_day(r["at"], self.zone(cid))).days
                if self._is_call(r) and r["outcome"] in CONVERSATION and days <= n:
                    broken.add("cooling_off:conversation")
        if p.wrong_party_blocks_number and ch in p.wrong_party_blocked_channels:
            num = self.number(cid)
            answered = [r for r in self.rows if self._is_call(r) and self._answered(r)]
            answered = [r for r in answered if r["number"] == num]
            if answered:
                last = max(r["at"] for r in answered)
                if any(r["outcome"] == "wrong_party" for r in answered if r["at"] == last):
                    broken.add("wrong_party:number")
        t = c["planned_local_time"]
        planned = t is not None and not pd.isna(t)
        if ch in p.timed_channels and planned and not (p.window_start <= t <= p.window_end):
            broken.add("window:outside_contact_hours")
        return broken

    def cap_use(self, c, scheduled: list[dict]) -> dict[str, tuple[int, int]]:
        """(used incl. scheduled calls, cap) per cap for candidate ``c``'s groups."""
        p, cid, out = self.p, c["customer_id"], {}
        zone, run = self.zone(cid), self.w.run
        if p.max_call_attempts_per_number_per_day is not None:
            num = self.number(cid)
            used = sum(
                1
                for r in self.rows
                if self._is_call(r)
                and local_day(r["at"], zone) == run
                and (r["number"] == num or (num.startswith("debtor:") and r["customer_id"] == cid))
            )
            used += sum(1 for s in scheduled if self.number(s["customer_id"]) == num)
            out["cap:call_attempts_day_number"] = (used, p.max_call_attempts_per_number_per_day)
        if p.max_connected_calls_per_debtor_per_day is not None:
            agency = "cap:connected_calls_day_debtor" in p.agency_contacts_count_for
            used = sum(
                1
                for r in self.rows
                if r["customer_id"] == cid
                and local_day(r["at"], zone) == run
                and self._answered(r)
                and (self._is_call(r) or (agency and r["channel"] == "agency"))
            )
            used += sum(1 for s in scheduled if s["customer_id"] == cid)
            out["cap:connected_calls_day_debtor"] = (used, p.max_connected_calls_per_debtor_per_day)
        if p.max_call_attempts_per_debt_per_7_days is not None:
            used = sum(
                1
                for r in self.rows
                if r["loan_id"] == c["loan_id"]
                and self._is_call(r)
                and 0 <= (run - local_day(r["at"], zone)).days <= 6
            )
            used += sum(1 for s in scheduled if s["loan_id"] == c["loan_id"])
            out["cap:call_attempts_7d_debt"] = (used, p.max_call_attempts_per_debt_per_7_days)
        return out

    def non_cap_rules(self, c) -> set[str]:
        broken = self.account_rules(c)
        if "missing:customer" in broken:
            return broken
        return broken | self.lookback_rules(c)


def check_both_directions(w: World, res, p) -> list[str]:
    """Breaches of the allowed set, and suppressions that break nothing (or not the rule
    named). Caps are judged against the scheduled (allowed, schedulable) calls."""
    ref = Reference(w, p)
    allowed = res.allowed.to_dict("records")
    calls = [a for a in allowed if a["channel"] in p.call_channels and a["schedulable"]]
    bad = []
    for a in allowed:
        broken = ref.non_cap_rules(a)
        if broken:
            bad.append(f"allowed {a['cand_id']} breaks {sorted(broken)}")
    for a in calls:
        for rule, (used, cap) in ref.cap_use(a, calls).items():
            if used > cap:
                bad.append(f"allowed {a['cand_id']} over {rule}: {used} > {cap}")
    for s in res.suppressed.to_dict("records"):
        broken = ref.non_cap_rules(s)
        if s["customer_id"] in ref.cust and s["channel"] in p.call_channels and s["schedulable"]:
            for rule, (used, cap) in ref.cap_use(s, calls).items():
                if used + 1 > cap:
                    broken.add(rule)
        if not broken:
            bad.append(f"suppressed {s['cand_id']} ({s['reason']}) breaks nothing")
        elif s["reason"] not in broken:
            bad.append(f"suppressed {s['cand_id']} as {s['reason']} but breaks {sorted(broken)}")
    return bad


CAP_ORDER = (
    "cap:call_attempts_day_number",
    "cap:connected_calls_day_debtor",
    "cap:call_attempts_7d_debt",
)


def _first_reason(broken: set[str], p) -> str:
    """The one code a candidate carries: the first rule broken, in the documented order
    (account holds, flags in the policy's precedence, look-backs, window)."""
    order = [
        "missing:customer",
        *(f"flag:{f}" for f in p.suppress_flags),
        *(f"unknown_flag:{f}" for f in p.suppress_flags),
        "invalid:timezone",
        "third_party",
        "dispute:open_in_history",
        "cooling_off:ptp_pending",
        "cooling_off:conversation",
        "wrong_party:number",
        "window:outside_contact_hours",
    ]
    return next(code for code in order if code in broken)


def greedy_decisions(w: World, p) -> dict[int, str | None]:
    """The rules applied by hand, one candidate at a time in priority order: a candidate
    breaking a non-cap rule is held with the first; a schedulable call is scheduled when
    every cap still has room after the calls scheduled before it, else held with the
    first full cap. ``None``: allowed."""
    ref, scheduled, out = Reference(w, p), [], {}
    for c in w.candidates.to_dict("records"):
        broken = ref.non_cap_rules(c)
        if broken:
            out[c["cand_id"]] = _first_reason(broken, p)
            continue
        if c["channel"] in p.call_channels and c["schedulable"]:
            use = ref.cap_use(c, scheduled)
            full = [rule for rule in CAP_ORDER if rule in use and use[rule][0] >= use[rule][1]]
            if full:
                out[c["cand_id"]] = full[0]
                continue
            scheduled.append(c)
        out[c["cand_id"]] = None
    return out


# Worlds where the caps bind: clean, reachable debtors, many calls on the day and at the
# 7-day edge, answered (connected) without a conversation, and many call candidates.
_clean_customer = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from(ZONES),
        "phone": st.sampled_from(PHONES),
        "flags": st.just([False] * 5),
        "updated_days_ago": st.integers(0, 12),
    }
)
_busy_event = st.tuples(
    st.integers(0, 2),  # three busy debtors
    st.integers(0, 1),
    st.sampled_from([0, 0, 0, 0, 0, 1, 3, 6, 6, 7, -1]),
    st.one_of(st.sampled_from(EDGE_TIMES), st.times().map(lambda t: t.replace(microsecond=0))),
    st.sampled_from(["call", "call", "ivr", "agency", "sms"]),
    st.sampled_from(["no_answer", "no_answer", "delivered", None]),
    st.just(0),
    st.one_of(st.none(), st.sampled_from(OFFSETS)),
    st.booleans(),
)
_call_candidate = st.tuples(
    st.integers(0, 2),
    st.integers(0, 1),
    st.sampled_from(["call", "call", "call", "ivr", "sms"]),
    st.just("debtor"),
    st.one_of(st.none(), st.sampled_from([time(8), time(12, 30), time(21)])),
    st.sampled_from([True] * 9 + [False]),
)


@st.composite
def cap_worlds(draw, n_events: int = 100, n_candidates: int = 40) -> World:
    run = draw(st.sampled_from(RUN_DATES))
    custs = draw(st.lists(_clean_customer, min_size=5, max_size=5))
    events = draw(st.lists(_busy_event, min_size=n_events // 3, max_size=n_events))
    cands = draw(st.lists(_call_candidate, min_size=8, max_size=n_candidates))
    return build_world(run, custs, events, cands)

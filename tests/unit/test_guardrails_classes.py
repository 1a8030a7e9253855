"""One hand-worked case per class of bug the independent re-count found (issue 12), the
new strict rules, and the post-scheduling audit's failure path."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd
import pytest
from test_guardrails import RUN, cands, customers, hist, reasons, run

from nplpipeline.act.compliance import compliance_rows
from nplpipeline.act.guardrail_audit import GuardrailBreachError, audit_worklist, enforce
from nplpipeline.act.guardrails import apply_guardrails
from nplpipeline.act.guardrails_config import PRC_2026, STRICTEST, US_REG_F


def _at(days: int, hhmm: str) -> datetime:
    return datetime.combine(RUN - timedelta(days=days), time.fromisoformat(hhmm))


def test_a_paid_call_starts_the_cooling_off():
    res = run(cands(), hist((3, "10:00", "call", "paid")))
    assert reasons(res) == ["cooling_off:conversation"]


def test_per_number_cap_pools_debtors_sharing_a_phone_from_the_master():
    cust = customers("C1", "C2")
    cust["phone"] = ["+86 138-0000-0001", "+8613800000001"]  # same number, two spellings
    h = hist(*[(0, f"09:{i:02d}", "call", "no_answer", None, "L2", "C2") for i in range(5)])
    res = run(cands(2), h, cust=cust)
    assert len(res.allowed) == 1
    assert reasons(res) == ["cap:call_attempts_day_number"]
    other = cust.assign(phone=["+8613800000009", "+8613800000001"])
    assert len(run(cands(2), h, cust=other).allowed) == 2  # own number: two calls fit


def test_offset_timestamps_land_on_the_debtors_own_calendar():
    cust = customers("C1", tz="Asia/Kathmandu")  # UTC+05:45
    h = hist()
    late = "2026-03-09T20:00:00+00:00"  # 01:45 on the run day in Kathmandu
    rows = [{**dict.fromkeys(h.columns), "action_id": f"a{i}", "loan_id": "L1"} for i in range(3)]
    for r in rows:
        r.update(customer_id="C1", action_at=late, channel="call", outcome="wrong_party")
    policy = STRICTEST.model_copy(update={"wrong_party_blocks_number": False})
    res = apply_guardrails(cands(), cust, pd.DataFrame(rows), RUN, policy)
    assert reasons(res) == ["cap:connected_calls_day_debtor"]
    # 18:14 UTC the day before is 23:59 local yesterday: not today.
    for r in rows:
        r["action_at"] = "2026-03-09T18:14:00Z"
    assert apply_guardrails(cands(), cust, pd.DataFrame(rows), RUN, policy).suppressed.empty


def test_naive_timestamps_are_already_local():
    cust = customers("C1", tz="America/New_York")
    h = hist(*[(0, f"23:{i:02d}", "call", "no_answer") for i in range(7)])  # local 23:xx
    assert reasons(run(cands(), h, cust=cust)) == ["cap:call_attempts_day_number"]


def test_caps_are_decided_jointly_and_name_the_rule_broken():
    cust = customers("C1")
    cust["phone"] = "+8613800000001"
    week = [(d, "09:00", "call", "no_answer", None, "L1") for d in (1, 2, 3, 4, 5, 6, 6)]
    today = [(0, f"10:{i:02d}", "call", "no_answer", None, "L2") for i in range(5)]
    res = run(cands(2, loan_id=["L1", "L2"]), hist(*week, *today), cust=cust)
    # L1 is over its 7-in-7 and must not spend the number's last slot; L2 takes it.
    assert list(res.allowed["loan_id"]) == ["L2"]
    assert reasons(res) == ["cap:call_attempts_7d_debt"]


def test_agency_contacts_count_towards_the_debtors_connected_calls():
    h = hist(*[(0, f"11:{i:02d}", "agency", "right_party_contact") for i in range(2)])
    res = run(cands(2), h, policy=PRC_2026)
    assert len(res.allowed) == 1
    assert reasons(res) == ["cap:connected_calls_day_debtor"]
    assert len(run(cands(2), h, policy=US_REG_F).allowed) == 2  # Reg F: no such rule


def test_agency_calls_on_call_channels_count_everywhere():
    h = hist(*[(0, f"11:{i:02d}", "call", "no_answer") for i in range(6)])
    h["performed_by"] = "AG1"
    res = apply_guardrails(cands(), customers("C1"), h, RUN, STRICTEST, agency_ids=["AG1"])
    assert reasons(res) == ["cap:call_attempts_day_number"]


def test_remaining_budget_is_split_so_items_never_add_up_past_the_cap():
    res = run(cands(2, loan_id=["L1", "L2"]), hist((0, "09:00", "call", "no_answer")))
    debtor = res.allowed["remaining_connected_calls_debtor_today"]
    assert list(debtor) == [1, 0]  # 3 - 2 scheduled = 1, given once
    assert list(res.allowed["remaining_call_attempts_number_today"]) == [3, 0]


def test_a_dispute_in_history_holds_the_debtor_until_the_master_clears_it():
    h = hist((20, "10:00", "call", "dispute"))
    for channel in ("call", "sms", "letter"):
        assert reasons(run(cands(channel=channel), h)) == ["dispute:open_in_history"]
    cleared = customers("C1").assign(updated_at=_at(19, "09:00"))
    assert run(cands(), h, cust=cleared).suppressed.empty
    stale = customers("C1").assign(updated_at=_at(21, "09:00"))  # updated before it
    assert reasons(run(cands(), h, cust=stale)) == ["dispute:open_in_history"]
    later_promise = hist((20, "10:00", "call", "dispute"), (9, "10:00", "call", "paid"))
    assert reasons(run(cands(), later_promise)) == ["dispute:open_in_history"]


def test_a_wrong_party_number_is_not_redialled_until_the_number_changes():
    cust = customers("C1").assign(phone="+8613800000001")
    h = hist((10, "10:00", "call", "wrong_party"))
    assert reasons(run(cands(), h, cust=cust)) == ["wrong_party:number"]
    assert run(cands(channel="sms"), h, cust=cust).suppressed.empty  # not a call
    h["phone_number"] = "+8613800000001"  # the dialled number, recorded
    assert run(cands(), h, cust=cust.assign(phone="+8613800000002")).suppressed.empty
    answered_later = hist((10, "10:00", "call", "wrong_party"), (9, "10:00", "call", "no_answer"))
    assert reasons(run(cands(), answered_later, cust=cust)) == ["wrong_party:number"]


def test_unknown_flags_hold_the_account_unless_the_lender_says_otherwise():
    cust = customers("C1").astype({"vulnerable": object})
    cust.loc[0, "vulnerable"] = None
    res = run(cands(channel="letter"), cust=cust)
    assert reasons(res) == ["unknown_flag:vulnerable"]
    assert res.suppressed["route"].iloc[0] == "special_handling"
    relaxed = STRICTEST.model_copy(update={"unknown_flags": "treat_as_unset"})
    assert run(cands(), cust=cust, policy=relaxed).suppressed.empty


def test_checks_count_what_each_rule_examined_and_held_back():
    c = cands(3).assign(channel=["call", "sms", "call"])
    res = run(c, hist((1, "10:00", "call", "refused")))
    checks = res.checks.set_index("rule")
    row = checks.loc["cooling_off:conversation"]
    assert (row.candidates_checked, row.suppressed, row.allowed) == (2, 2, 0)
    assert checks.loc["missing:customer", "candidates_checked"] == 3


# --- the post-scheduling audit --------------------------------------------------------


def _items(**cols) -> pd.DataFrame:
    base = {
        "item_id": ["I1"],
        "loan_id": ["L1"],
        "customer_id": ["C1"],
        "channel": ["call"],
        "earliest_local_time": ["08:00:00"],
        "latest_local_time": ["21:00:00"],
        "remaining_call_attempts": [0],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_audit_passes_a_clean_worklist():
    result = audit_worklist(_items(), customers("C1"), hist(), RUN, STRICTEST)
    assert result.ok
    enforce(result)


@pytest.mark.parametrize(
    ("cust", "h", "items", "rule"),
    [
        (customers("C1", deceased=True), hist(), _items(), "flag:deceased"),
        (customers("C1"), hist((2, "10:00", "call", "paid")), _items(), "cooling_off:conversation"),
        (
            customers("C1"),
            hist((9, "10:00", "ivr", "dispute")),
            _items(),
            "dispute:open_in_history",
        ),
        (
            customers("C1"),
            hist(*[(0, f"09:{i:02d}", "call", "no_answer") for i in range(5)]),
            _items(remaining_call_attempts=[1]),  # 5 made + 1 scheduled + 1 redial > 6
            "cap:call_attempts_day_number",
        ),
        (
            customers("C1"),
            hist(),
            _items(latest_local_time=["22:00:00"]),
            "window:outside_contact_hours",
        ),
    ],
)
def test_audit_fails_on_a_breach_naming_rule_and_ids_only(cust, h, items, rule):
    cust = cust.assign(phone="+8613800000001", full_name="张三")
    result = audit_worklist(items, cust, h, RUN, STRICTEST)
    assert rule in result.breaches
    with pytest.raises(GuardrailBreachError) as err:
        enforce(result)
    assert err.value.permanent
    message = str(err.value)
    assert rule in message and "I1" in message
    assert "13800000001" not in message and "张三" not in message
    report = compliance_rows(
        pd.DataFrame(columns=["rule", "candidates_checked", "allowed", "suppressed"]),
        result,
        RUN,
        "STRICTEST",
    )
    assert report.set_index("rule").loc[rule, "audit_result"] == "breach"


def test_the_shipped_guardrail_file_spells_out_the_strict_defaults():
    from pathlib import Path

    from nplpipeline.act.guardrails_config import load_guardrail_policy

    path = Path(__file__).parents[2] / "nplpipeline/config/policies/guardrails.yaml"
    assert load_guardrail_policy(str(path)) == STRICTEST

"""Fair-collection guardrails: hand-worked edge cases, one or more per rule and per class
of past bug. The property tests against a naive reference are in
``test_guardrails_properties.py``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from nplpipeline.act.guardrails import apply_guardrails
from nplpipeline.act.guardrails_config import (
    PRC_2026,
    STRICTEST,
    US_REG_F,
    GuardrailPolicy,
    get_preset,
)

RUN = date(2026, 3, 10)
FLAGS = ["do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable"]
HIST_COLS = [
    "action_id",
    "loan_id",
    "customer_id",
    "action_at",
    "channel",
    "outcome",
    "ptp_amount",
    "ptp_date",
]


def customers(*ids: str, tz: str = "Asia/Shanghai", **flags: bool) -> pd.DataFrame:
    rows = [
        {"customer_id": c, "timezone": tz, **{f: flags.get(f, False) for f in FLAGS}} for c in ids
    ]
    return pd.DataFrame(rows)


def hist(*rows: tuple) -> pd.DataFrame:
    """rows: (days_before_run, "HH:MM", channel, outcome[, ptp_date][, loan, customer])."""
    out = []
    for i, r in enumerate(rows):
        days, hhmm, channel, outcome = r[:4]
        ptp_date = r[4] if len(r) > 4 else None
        loan = r[5] if len(r) > 5 else "L1"
        cust = r[6] if len(r) > 6 else "C1"
        at = datetime.combine(RUN - timedelta(days=days), time.fromisoformat(hhmm))
        out.append(
            {
                "action_id": f"a{i}",
                "loan_id": loan,
                "customer_id": cust,
                "action_at": at,
                "channel": channel,
                "outcome": outcome,
                "ptp_amount": 100.0 if ptp_date else None,
                "ptp_date": ptp_date,
            }
        )
    return pd.DataFrame(out, columns=HIST_COLS)


def cands(n: int = 1, channel: str = "call", **cols) -> pd.DataFrame:
    base = {"loan_id": ["L1"] * n, "customer_id": ["C1"] * n, "channel": [channel] * n}
    base.update(cols)
    return pd.DataFrame(base)


def run(c, h=None, cust=None, policy=STRICTEST):
    cust = customers("C1") if cust is None else cust
    h = hist() if h is None else h
    return apply_guardrails(c, cust, h, RUN, policy)


def reasons(res) -> list[str]:
    return list(res.suppressed["reason"])


# --- hand-worked cases --------------------------------------------------------------


def test_clean_candidate_is_allowed_with_its_window():
    res = run(cands(), cust=customers("C1", tz="Asia/Urumqi"))
    assert res.suppressed.empty
    row = res.allowed.iloc[0]
    assert (row.earliest_local_time, row.latest_local_time) == (time(8), time(21))
    # Urumqi is UTC+6: 08:00 local is 02:00 UTC.
    assert row.window_start_utc == pd.Timestamp("2026-03-10 02:00", tz="UTC")
    assert row.remaining_call_attempts_number_today == 5
    assert row.remaining_connected_calls_debtor_today == 2
    assert row.remaining_call_attempts_debt_7d == 6


@pytest.mark.parametrize("flag", FLAGS)
def test_each_flag_is_suppressed_with_reason_and_route(flag):
    res = run(cands(channel="letter"), cust=customers("C1", **{flag: True}))
    assert res.allowed.empty
    assert reasons(res) == [f"flag:{flag}"]
    assert res.suppressed["route"].iloc[0] == STRICTEST.suppress_flags[flag]


def test_missing_customer_and_bad_timezone_are_held_back():
    assert reasons(run(cands(), cust=customers("C9"))) == ["missing:customer"]
    assert reasons(run(cands(), cust=customers("C1", tz="Mars/Olympus"))) == ["invalid:timezone"]


def test_third_party_contact_is_suppressed():
    res = run(cands(2, phone_owner=["third_party", None]))
    assert reasons(res) == ["third_party"]
    assert len(res.allowed) == 1


@pytest.mark.parametrize(
    ("planned", "ok"),
    [
        ("07:59", False),
        ("08:00", True),
        ("21:00", True),
        ("21:01", False),
        ("21:00:01", False),
        (time(12, 30), True),
        (pd.NA, True),
        ("garbage", False),
    ],
)
def test_contact_window_edges(planned, ok):
    res = run(cands(channel="sms", planned_local_time=[planned]))
    assert (len(res.allowed) == 1) is ok
    if not ok:
        assert reasons(res) == ["window:outside_contact_hours"]


def test_window_accepts_timestamps_and_ignores_letters():
    res = run(cands(channel="sms", planned_local_time=[pd.Timestamp("2026-03-10 21:30")]))
    assert reasons(res) == ["window:outside_contact_hours"]
    assert run(cands(channel="letter", planned_local_time=["23:00"])).suppressed.empty


def test_prc_preset_allows_until_just_before_22():
    c = cands(channel="sms", planned_local_time=["21:30"])
    assert run(c, policy=PRC_2026).suppressed.empty
    assert reasons(run(cands(channel="sms", planned_local_time=["22:00"]), policy=PRC_2026))


@pytest.mark.parametrize(("already", "n_allowed"), [(4, 2), (5, 1), (6, 0)])
def test_call_attempts_per_number_per_day_exactly_at_cap(already, n_allowed):
    h = hist(*[(0, f"09:{i:02d}", "call", "no_answer") for i in range(already)])
    res = run(cands(2), h)
    assert len(res.allowed) == n_allowed
    assert set(reasons(res)) <= {"cap:call_attempts_day_number"}
    # Yesterday's attempts don't count against today's per-number cap.
    h_old = hist(*[(1, f"09:{i:02d}", "call", "no_answer") for i in range(6)])
    assert len(run(cands(), h_old).allowed) == 1


def test_call_attempts_per_number_uses_phone_number_when_known():
    h = hist(*[(0, f"09:{i:02d}", "call", "no_answer") for i in range(6)])
    h["phone_number"] = "111"
    res = run(cands(2, phone_number=["111", "222"]), h)
    assert list(res.allowed["phone_number"]) == ["222"]
    assert reasons(res) == ["cap:call_attempts_day_number"]


@pytest.mark.parametrize(("connected", "n_allowed"), [(1, 2), (2, 1), (3, 0)])
def test_connected_calls_per_debtor_per_day(connected, n_allowed):
    # wrong_party connects without being a conversation with the debtor (no cooling-off);
    # one connected call is on another loan / by an agency: the cap is per debtor.
    rows = [
        (0, f"10:{i:02d}", "call", "wrong_party", None, "L1" if i else "L2")
        for i in range(connected)
    ]
    # wrong_party now also blocks its number (a new rule): switched off here to isolate
    # the per-debtor cap.
    policy = STRICTEST.model_copy(update={"wrong_party_blocks_number": False})
    res = run(cands(3), hist(*rows), policy=policy)
    assert len(res.allowed) == n_allowed
    assert set(reasons(res)) == {"cap:connected_calls_day_debtor"}


def test_sms_is_not_capped_by_call_caps():
    h = hist(*[(0, f"09:{i:02d}", "call", "wrong_party") for i in range(6)])
    res = run(cands(3, channel="sms"), h)
    assert len(res.allowed) == 3


@pytest.mark.parametrize(("oldest_day", "ok"), [(6, False), (7, True)])
def test_call_attempts_per_debt_per_7_days(oldest_day, ok):
    days = [oldest_day, 5, 4, 3, 2, 1, 1]  # 7 attempts; the oldest at run-6 or run-7
    h = hist(*[(d, f"09:{i:02d}", "call", "no_answer") for i, d in enumerate(days)])
    res = run(cands(), h)
    assert (len(res.allowed) == 1) is ok
    if not ok:
        assert reasons(res) == ["cap:call_attempts_7d_debt"]
    # The cap is per debt: another loan of the same debtor is unaffected.
    assert len(run(cands(loan_id=["L2"]), h).allowed) == 1


@pytest.mark.parametrize(("days_ago", "ok"), [(0, False), (7, False), (8, True)])
def test_cooling_off_after_conversation(days_ago, ok):
    h = hist((days_ago, "10:00", "call", "refused"))
    res = run(cands(), h)
    assert (len(res.allowed) == 1) is ok
    if not ok:
        assert reasons(res) == ["cooling_off:conversation"]
    # Reg F restricts calls only; a letter may still go out.
    assert len(run(cands(channel="letter"), h).allowed) == 1


def test_no_answer_is_not_a_conversation():
    assert len(run(cands(), hist((1, "10:00", "call", "no_answer"))).allowed) == 1


@pytest.mark.parametrize(("due_in", "ok"), [(-1, True), (0, False), (3, False)])
def test_promise_to_pay_pending_blocks_every_channel(due_in, ok):
    h = hist((10, "10:00", "call", "promise_to_pay", RUN + timedelta(days=due_in)))
    for channel in ("call", "sms"):
        res = run(cands(channel=channel), h)
        assert (len(res.allowed) == 1) is ok
        if not ok:
            assert reasons(res) == ["cooling_off:ptp_pending"]


def test_paid_after_promise_releases_it():
    h = hist(
        (10, "10:00", "call", "promise_to_pay", RUN + timedelta(days=2)),
        (9, "10:00", "app_push", "paid"),
    )
    assert len(run(cands(), h).allowed) == 1


def test_first_failing_rule_wins_and_reasons_are_exclusive():
    cust = customers("C1", vulnerable=True)
    res = run(
        cands(channel="sms", phone_owner=["third_party"], planned_local_time=["23:00"]), cust=cust
    )
    assert reasons(res) == ["flag:vulnerable"]


def test_us_reg_f_has_no_daily_caps_but_keeps_7_in_7():
    h = hist(*[(0, f"09:{i:02d}", "call", "no_answer") for i in range(6)])
    res = run(cands(), h, policy=US_REG_F)
    assert len(res.allowed) == 1
    assert pd.isna(res.allowed["remaining_call_attempts_number_today"].iloc[0])
    assert res.allowed["remaining_call_attempts_debt_7d"].iloc[0] == 0


def test_policy_is_validated():
    with pytest.raises(ValidationError):
        GuardrailPolicy(max_calls=3)
    with pytest.raises(ValidationError):
        GuardrailPolicy(window_start=time(21), window_end=time(8))
    with pytest.raises(ValidationError):
        GuardrailPolicy(suppress_flags={"rich": "special_handling"})
    assert GuardrailPolicy.model_validate({"window_end": "20:00"}).window_end == time(20)
    assert get_preset("STRICTEST") == GuardrailPolicy()
    with pytest.raises(KeyError):
        get_preset("XX")


def test_empty_inputs():
    res = run(cands(0), hist())
    assert res.allowed.empty and res.suppressed.empty


def test_a_lender_policy_file_is_validated_on_load(tmp_path) -> None:
    import pydantic

    from nplpipeline.act.guardrails_config import load_guardrail_policy

    good = tmp_path / "policy.yaml"
    good.write_text("max_connected_calls_per_debtor_per_day: 2\n")
    assert load_guardrail_policy(str(good)).max_connected_calls_per_debtor_per_day == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_conected_calls: 2\n")
    with pytest.raises(pydantic.ValidationError):
        load_guardrail_policy(str(bad))

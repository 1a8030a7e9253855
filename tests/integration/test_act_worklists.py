"""Worklists end to end: generated plans and histories never yield a worklist that breaks
a fair-collection rule, a collector's capacity, or the experiment's control arm; and the
stage is idempotent on both warehouses."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from guardrail_reference import FLAGS, Reference, worlds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_rows import insert_raw

from nplpipeline.act.guardrails_config import STRICTEST
from nplpipeline.act.stage import build_worklists, run_treatment_plan, run_worklists
from nplpipeline.act.strategies import plan_treatments
from nplpipeline.act.tables import compliance_report, suppression_log, treatment_plan, worklist
from nplpipeline.config.policy import load_policy
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame

RUN = dt.date(2026, 3, 10)
CUSTS = [f"C{i}" for i in range(5)]
LOANS = {c: [f"{c}-L0", f"{c}-L1"] for c in CUSTS}

POLICY = load_policy()
TIERS = ["mild", "severe", "extremely_severe"]

account = st.tuples(
    st.sampled_from(CUSTS),
    st.integers(0, 1),
    st.sampled_from(TIERS),
    st.sampled_from([1, 5, 8, 20, 31, 60, 91, 120, 200]),
    st.floats(0.05, 0.95),
    st.sampled_from([500.0, 5_000.0, 50_000.0]),
)
staff = st.lists(
    st.tuples(st.sampled_from(["call", "field", "legal"]), st.integers(0, 3), st.booleans()),
    max_size=6,
)


def _scores(accounts, run: dt.date = RUN) -> pd.DataFrame:
    rows = {}
    for cust, li, tier, dpd, p, balance in accounts:
        loan = LOANS[cust][li]
        rows[loan] = {
            "as_of_date": run,
            "loan_id": loan,
            "customer_id": cust,
            "tier": tier,
            "dpd": dpd,
            "recovery_probability": p,
            "overdue_amount": balance / 5,
            "outstanding_principal": balance,
            "model_version": "7",
            "reason_1": "few payments",
            "reason_2": None,
            "reason_3": None,
        }
    return pd.DataFrame(list(rows.values()))


def _collectors(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "collector_id": f"E{i}",
                "team": f"team-{role}",
                "role": role,
                "daily_capacity": cap,
                "active": active,
            }
            for i, (role, cap, active) in enumerate(rows)
        ],
        columns=["collector_id", "team", "role", "daily_capacity", "active"],
    )


def _as_stored(w) -> pd.DataFrame:
    """The history as the warehouse holds it: naive timestamps on the customer's clock
    (offset-bearing ones are covered by the guardrails' own property tests)."""
    ref = Reference(w, STRICTEST)
    local = [r["at"].astimezone(ZoneInfo(r["zone"])).replace(tzinfo=None) for r in ref.rows]
    kept = w.history[w.history["action_id"].isin([r["action_id"] for r in ref.rows])]
    return kept.assign(action_at=pd.to_datetime(pd.Series(local, index=kept.index)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    w=worlds(n_candidates=0),
    accounts=st.lists(account, min_size=1, max_size=8),
    crew=staff,
    placed=st.sets(st.sampled_from([loan for loans in LOANS.values() for loan in loans])),
)
def test_no_generated_worklist_breaks_a_rule(w, accounts, crew, placed):
    cust, history = w.customers.assign(monthly_income=8_000.0), _as_stored(w)
    scores = _scores(accounts, w.run)
    plan = plan_treatments(scores, cust, w.run, POLICY.strategies)
    collectors = _collectors(crew)
    out = build_worklists(
        plan, cust, collectors, history, placed, w.run, POLICY, STRICTEST, ("AG1",)
    )
    w_items, log = out["worklist"], out["suppressions"]

    # 1. fair collection: the naive reference finds no breach in what was scheduled, and
    #    the post-scheduling audit agrees
    ref = Reference(w, STRICTEST)
    items = w_items.assign(phone_owner="debtor", planned_local_time=None).to_dict("records")
    calls = [i for i in items if i["channel"] in STRICTEST.call_channels]
    for item in items:
        assert not ref.non_cap_rules(item), item["item_id"]
    for item in calls:
        for rule, (used, cap) in ref.cap_use(item, calls).items():
            assert used <= cap, (rule, item["item_id"])
    assert out["audit"].ok, out["audit"].breaches
    report = out["compliance"]
    assert (report["audit_result"] != "breach").all()
    assert (report["candidates_checked"] == report["allowed"] + report["suppressed"]).all()
    flagged = set(cust.loc[cust[FLAGS].eq(True).any(axis=1), "customer_id"])
    assert not set(w_items["customer_id"]) & flagged
    assert (w_items["earliest_local_time"] == "08:00:00").all()
    assert (w_items["latest_local_time"] == "21:00:00").all()
    # every flagged account with a planned contact is in the suppression log
    planned = plan[(plan["planned_channels"] != "") & ~plan["loan_id"].isin(placed)]
    assert set(planned.loc[planned["customer_id"].isin(flagged), "loan_id"]) <= set(log["loan_id"])

    # 2. capacity: nobody works more accounts than their daily capacity; pairs are two people
    cap = collectors.set_index("collector_id")["daily_capacity"]
    active = set(collectors.loc[collectors["active"], "collector_id"])
    w = w_items
    used = pd.concat([w["assignee_id"], w["second_assignee_id"]]).dropna().value_counts()
    for person, n in used.items():
        assert person in active
        assert n <= cap[person]
    visits = w[w["channel"] == "visit"]
    assert visits["second_assignee_id"].notna().all()
    assert (visits["assignee_id"] != visits["second_assignee_id"]).all()
    roles = collectors.set_index("collector_id")["role"]
    for channel, role in (("call", "call"), ("visit", "field"), ("legal", "legal")):
        assert (w.loc[w["channel"] == channel, "assignee_id"].map(roles) == role).all()

    # 3. experiment and agency: control arm and accounts with an agency get nothing in-house
    control = set(plan.loc[plan["strategy_arm"] == "control", "loan_id"])
    assert not set(w["loan_id"]) & (control | set(placed))
    # legal only where legal-ready
    ready = set(plan.loc[plan["legal_ready"], "loan_id"])
    assert set(w.loc[w["channel"] == "legal", "loan_id"]) <= ready

    # 4. nothing lost: every planned account has a final disposition
    final = out["plan"]["disposition"]
    assert not (final == "planned").any()
    assert w["item_id"].is_unique
    assert not log.duplicated(["loan_id", "channel"]).any()
    # queue ranks run 1..n within each queue
    for _, q in w.groupby("queue"):
        assert sorted(q["queue_rank"]) == list(range(1, len(q) + 1))


# --- the stage on a real warehouse ------------------------------------------------------


def _seed_warehouse(url: str) -> None:
    now = dt.datetime(2026, 3, 1, 9)
    customers = [
        {
            "customer_id": c,
            "timezone": "Asia/Shanghai",
            "monthly_income": 6000,
            "do_not_contact": c == "C2",
            "deceased": False,
            "bankruptcy": False,
            "dispute_open": False,
            "vulnerable": False,
            "updated_at": now,
            "province": "广东",
            "full_name": "张三",
        }
        for c in ("C0", "C1", "C2")
    ]
    collectors = [
        {
            "collector_id": "E1",
            "team": "early-1",
            "role": "call",
            "daily_capacity": 5,
            "active": True,
            "updated_at": now,
        },
        {
            "collector_id": "F1",
            "team": "field-1",
            "role": "field",
            "daily_capacity": 2,
            "active": True,
            "updated_at": now,
        },
        {
            "collector_id": "F2",
            "team": "field-1",
            "role": "field",
            "daily_capacity": 2,
            "active": True,
            "updated_at": now,
        },
    ]
    actions = [  # a conversation two days ago: calls to C0 are cooling off
        {
            "action_id": "A1",
            "loan_id": "C0-L0",
            "customer_id": "C0",
            "action_at": dt.datetime.combine(RUN - dt.timedelta(days=2), dt.time(10)),
            "channel": "call",
            "performed_by": "E1",
            "outcome": "right_party_contact",
            "recorded": True,
            "updated_at": now,
        },
    ]
    scores = _scores(
        [
            ("C0", 0, "mild", 20, 0.7, 5000.0),
            ("C0", 1, "severe", 95, 0.4, 50_000.0),
            ("C1", 0, "severe", 40, 0.4, 8000.0),
            ("C2", 0, "mild", 5, 0.8, 2000.0),
        ]
    )
    with transaction(url) as conn:
        ensure_schema(conn)
        for entity, rows in (
            ("customers", customers),
            ("collectors", collectors),
            ("collection_actions", actions),
        ):
            insert_raw(conn, entity, rows, drop_date=pd.Timestamp(RUN))
        insert_frame(
            conn,
            account_scores,
            scores.assign(
                model_name="npl",
                bucket="M1",
                product="cash_loan",
                reason_feature_1="f",
                reason_feature_2=None,
                reason_feature_3=None,
            ),
        )


def _tables(url: str) -> dict[str, pd.DataFrame]:
    with opened(url) as engine, engine.connect() as conn:
        out = {
            t.name: read_frame(conn, sa.select(t))
            .sort_values(list(t.primary_key.columns.keys()))
            .reset_index(drop=True)
            for t in (treatment_plan, worklist, suppression_log, compliance_report)
        }
    return out


def test_stage_writes_worklists_and_reruns_identically(npl_env, warehouse_url):
    _seed_warehouse(warehouse_url)
    plan = run_treatment_plan(RUN)
    first = run_worklists(RUN)
    before = _tables(warehouse_url)
    assert plan["accounts"] == 4
    w, log = before["act_worklist"], before["act_suppression_log"]
    # C2 asked not to be contacted: held back with the reason, never on a worklist
    assert "C2" not in set(w["customer_id"])
    assert set(log.loc[log["customer_id"] == "C2", "reason"]) == {"flag:do_not_contact"}
    # C0 had a conversation two days ago: calls are held back for cooling off, SMS is not
    assert "cooling_off:conversation" in set(log.loc[log["customer_id"] == "C0", "reason"])
    assert "call" not in set(w.loc[w["customer_id"] == "C0", "channel"])
    assert "sms" in set(w.loc[w["customer_id"] == "C0", "channel"])
    # C1's account drew the control arm: planned, recorded, not contacted
    assert "C1" not in set(w["customer_id"])
    plan_rows = before["act_treatment_plan"].set_index("loan_id")
    assert plan_rows.loc["C1-L0", "disposition"] == "control"
    assert first["worklist_items"] == len(w) > 0
    assert (w["tier_label_zh"].isin(["轻度", "重度", "极重度"])).all()

    run_treatment_plan(RUN)
    run_worklists(RUN)
    after = _tables(warehouse_url)
    report = after["act_compliance_report"].set_index("rule")
    assert set(report["audit_result"]) <= {"pass", "not_audited"}
    assert report.loc["flag:do_not_contact", "audit_result"] == "pass"
    assert report.loc["flag:do_not_contact", "suppressed"] >= 1
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], check_like=True)


def test_a_breach_found_by_the_audit_fails_the_task_and_delivers_nothing(
    npl_env, warehouse_url, monkeypatch
):
    import pytest

    import nplpipeline.act.stage as stage
    from nplpipeline.act.guardrail_audit import GuardrailBreachError
    from nplpipeline.act.tables import compliance_report

    _seed_warehouse(warehouse_url)
    run_treatment_plan(RUN)
    run_worklists(RUN)  # a good run first: its worklist must not survive the bad one
    real = stage.apply_guardrails

    def forgets_flags(
        candidates, customers, history, run_date, policy, agency_ids=(), standing=None
    ):
        broken = policy.model_copy(
            update={"suppress_flags": {}, "cooling_off_days_after_conversation": None}
        )
        return real(candidates, customers, history, run_date, broken, agency_ids, standing)

    monkeypatch.setattr(stage, "apply_guardrails", forgets_flags)
    run_treatment_plan(RUN)
    with pytest.raises(GuardrailBreachError) as err:
        run_worklists(RUN)
    assert "cooling_off:conversation" in str(err.value)
    assert "张三" not in str(err.value)
    with opened(warehouse_url) as engine, engine.connect() as conn:
        items = read_frame(conn, sa.select(worklist).where(worklist.c.as_of_date == RUN))
        report = read_frame(
            conn, sa.select(compliance_report).where(compliance_report.c.as_of_date == RUN)
        )
    assert items.empty
    rows = report.set_index("rule")
    assert rows.loc["cooling_off:conversation", "audit_result"] == "breach"
    assert rows.loc["cooling_off:conversation", "audit_breaches"] >= 1

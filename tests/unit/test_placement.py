"""Agency placement, pure functions: allocation constraints and optimality, randomised
share, liquidation shrinkage, placement history, recalls and commissions.

Optimality is checked against simple references: brute force on a tiny case, a greedy
baseline the optimiser must never lose to, and the LP against the exchange algorithm.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nplpipeline.act.placement.allocate import (
    OPTIMISED,
    RANDOMISED,
    allocate_accounts,
    eligibility,
    exchange_assignment,
    lp_assignment,
    monthly_room,
    served_provinces,
    solve_assignment,
)
from nplpipeline.act.placement.commissions import CLAWBACK, COMMISSION, compute_commissions
from nplpipeline.act.placement.config import (
    DEFAULT_PLACEMENT_POLICY_FILE,
    PlacementPolicy,
    load_placement_policy,
)
from nplpipeline.act.placement.history import (
    lender_placements,
    outstanding_before,
    placement_history,
)
from nplpipeline.act.placement.liquidation import liquidation_rates, pool_rate
from nplpipeline.act.placement.recall import (
    CURED,
    OFF_BOOK,
    PERIOD_END,
    apply_recalls,
    due_recalls,
    placement_terms,
    undo_day,
)
from nplpipeline.act.placement.tables import agency_placements

AS_OF = dt.date(2026, 3, 10)
NO_RANDOM = PlacementPolicy(randomised_share=0.0, fixed_cost=0.0)
PLACEMENT_COLUMNS = [c.name for c in agency_placements.columns]


def agencies(*rows: tuple, **overrides: list) -> pd.DataFrame:
    """rows: (agency_id, room, provinces, commission_rate, liquidation_rate[, active])."""
    out = pd.DataFrame(
        [
            {
                "agency_id": r[0],
                "room": r[1],
                "provinces": r[2],
                "commission_rate": r[3],
                "liquidation_rate": r[4],
                "active": r[5] if len(r) > 5 else True,
            }
            for r in rows
        ]
    )
    for col, values in overrides.items():
        out[col] = values
    return out


def accounts(n: int, province: str | list = "广东省", **cols: object) -> pd.DataFrame:
    base = {
        "loan_id": [f"L{i:03d}" for i in range(n)],
        "balance": np.linspace(1000, 5000, n),
        "recovery_probability": np.full(n, 0.2),
        "province": province if isinstance(province, list) else [province] * n,
        "placement_no": np.ones(n, dtype=int),
    }
    base.update(cols)
    return pd.DataFrame(base)


def check_constraints(out: pd.DataFrame, acc: pd.DataFrame, ag: pd.DataFrame) -> None:
    assert out["loan_id"].is_unique
    load = out["agency_id"].value_counts()
    room = ag.set_index("agency_id")["room"]
    assert (load <= room.reindex(load.index)).all()
    prov = acc.set_index("loan_id")["province"]
    served = ag.set_index("agency_id")["provinces"].map(served_provinces)
    active = ag.set_index("agency_id")["active"]
    for loan, agency in zip(out["loan_id"], out["agency_id"], strict=True):
        assert active[agency]
        assert not served[agency] or prov[loan] in served[agency]


# -- allocation constraints -------------------------------------------------------------


def test_capacity_respected_including_capacity_used_earlier_in_the_month() -> None:
    ag = agencies(("A", 0, "", 0.2, 0.2), ("B", 0, "", 0.2, 0.1))
    ag["monthly_capacity"] = [5, 3]
    starts = pd.DataFrame(
        {
            "agency_id": ["A", "A", "A", "B", "A"],
            "start_date": pd.to_datetime(
                ["2026-03-01", "2026-03-09", "2026-02-28", "2026-03-02", "2026-03-10"]
            ),
        }
    )
    # Feb 28 is last month; Mar 1, 9 and 10 (up to the as-of date) count for A.
    ag["room"] = monthly_room(ag, starts, AS_OF)
    assert ag["room"].tolist() == [2, 2]
    out = allocate_accounts(accounts(20), ag, NO_RANDOM, AS_OF)
    assert out["agency_id"].value_counts().to_dict() == {"A": 2, "B": 2}
    check_constraints(out, accounts(20), ag)


def test_province_eligibility_and_empty_list_serves_all() -> None:
    acc = accounts(4, province=["广东省", "浙江省", "北京市", None])
    ag = agencies(("GD", 10, "广东省,福建省", 0.2, 0.5), ("ALL", 10, "", 0.2, 0.1))
    out = allocate_accounts(acc, ag, NO_RANDOM, AS_OF).set_index("loan_id")["agency_id"]
    # The better agency takes the account it may serve; everyone else goes to ALL.
    assert out.to_dict() == {"L000": "GD", "L001": "ALL", "L002": "ALL", "L003": "ALL"}
    el = eligibility(acc["province"], ag)
    assert el[:, 0].tolist() == [True, False, False, False]
    assert served_provinces(" 广东省 , 福建省,") == {"广东省", "福建省"}
    assert served_provinces(None) == frozenset()


def test_inactive_agencies_get_nothing() -> None:
    ag = agencies(("A", 10, "", 0.1, 0.9, False), ("B", 10, "", 0.3, 0.1, True))
    out = allocate_accounts(accounts(6), ag, PlacementPolicy(fixed_cost=0.0), AS_OF)
    assert set(out["agency_id"]) == {"B"}
    assert len(out) == 6


def test_only_positive_values_are_placed() -> None:
    policy = PlacementPolicy(randomised_share=0.0, fixed_cost=500.0)
    acc = accounts(3, balance=[100.0, 1000.0, 100_000.0])
    out = allocate_accounts(acc, agencies(("A", 10, "", 0.2, 0.2)), policy, AS_OF)
    assert out["loan_id"].tolist() == ["L002"]  # 0.2·B·0.8 − 500 > 0 only for the last
    assert out["expected_net_recovery"].iloc[0] == pytest.approx(0.2 * 100_000 * 0.8 - 500)


def test_excluded_previous_agency_and_commission_uplift_on_replacement() -> None:
    policy = PlacementPolicy(randomised_share=0.0, fixed_cost=0.0)
    acc = accounts(2, placement_no=np.array([1, 2]))
    ag = agencies(("A", 10, "", 0.2, 0.5), ("B", 10, "", 0.2, 0.1))
    excluded = pd.DataFrame({"loan_id": ["L001"], "agency_id": ["A"]})
    out = allocate_accounts(acc, ag, policy, AS_OF, excluded).set_index("loan_id")
    assert out.loc["L000", "agency_id"] == "A"
    assert out.loc["L001", "agency_id"] == "B"  # second placement: a different agency
    assert out.loc["L000", "commission_rate"] == pytest.approx(0.2)
    assert out.loc["L001", "commission_rate"] == pytest.approx(0.25)
    assert PlacementPolicy().uplift_for(np.array([1, 2, 3, 7])).tolist() == [0, 0.05, 0.1, 0.1]


# -- randomised share -------------------------------------------------------------------


def test_randomised_share_is_exact_and_deterministic() -> None:
    acc = accounts(100, province=["广东省", "浙江省"] * 50)
    ag = agencies(("A", 20, "", 0.2, 0.3), ("B", 20, "广东省", 0.2, 0.1), ("C", 10, "", 0.2, 0.2))
    policy = PlacementPolicy(randomised_share=0.2, seed=7)
    first = allocate_accounts(acc, ag, policy, AS_OF)
    again = allocate_accounts(acc.sample(frac=1.0, random_state=3), ag, policy, AS_OF)
    pd.testing.assert_frame_equal(first, again)  # row order of the input does not matter
    assert len(first) == 50
    assert (first["allocation_method"] == RANDOMISED).sum() == 10  # ceil(0.2 · min(100, 50))
    assert (first["allocation_method"] == OPTIMISED).sum() == 40
    check_constraints(first, acc, ag)
    other_day = allocate_accounts(acc, ag, policy, AS_OF + dt.timedelta(days=1))
    drawn = set(first.loc[first["allocation_method"] == RANDOMISED, "loan_id"])
    assert drawn != set(other_day.loc[other_day["allocation_method"] == RANDOMISED, "loan_id"])


def test_randomised_draw_spreads_over_agencies_with_room() -> None:
    acc = accounts(4000)
    ag = agencies(("A", 4000, "", 0.2, 0.3), ("B", 4000, "", 0.2, 0.1), ("C", 4000, "", 0.2, 0.2))
    out = allocate_accounts(acc, ag, PlacementPolicy(randomised_share=0.5), AS_OF)
    drawn = out[out["allocation_method"] == RANDOMISED]["agency_id"].value_counts()
    assert drawn.sum() == 2000
    assert drawn.min() > 550  # uniform: about 667 each


# -- optimality -------------------------------------------------------------------------


def _objective(values: np.ndarray, assign: np.ndarray) -> float:
    placed = np.flatnonzero(assign >= 0)
    return float(values[placed, assign[placed]].sum())


def _greedy(values: np.ndarray, allowed: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Baseline: best remaining pair first (a plain, deliberately simple reference)."""
    assign = np.full(len(values), -1)
    left = room.copy()
    pairs = sorted(
        ((values[i, a], i, a) for i, a in zip(*np.nonzero(allowed), strict=True)), reverse=True
    )
    for v, i, a in pairs:
        if v > 0 and assign[i] < 0 and left[a] > 0:
            assign[i], left[a] = a, left[a] - 1
    return assign


def test_optimiser_matches_brute_force_on_a_tiny_case() -> None:
    values = np.array([[10.0, 9.0], [8.0, 1.0], [7.0, 6.5], [3.0, -1.0]])
    allowed = np.ones_like(values, dtype=bool)
    room = np.array([1, 2])
    best = 0.0
    for choice in itertools.product([-1, 0, 1], repeat=4):
        c = np.array(choice)
        if (np.bincount(c[c >= 0], minlength=2) <= room).all():
            best = max(best, _objective(values, c))
    got = solve_assignment(values, allowed, room)
    assert _objective(values, got) == pytest.approx(best)
    assert _objective(values, got) > _objective(values, _greedy(values, allowed, room))


@pytest.mark.parametrize("seed", range(8))
def test_optimiser_never_loses_to_greedy_and_lp_equals_exchange(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(5, 60)), int(rng.integers(1, 6))
    values = rng.gamma(2.0, 100.0, (n, 1)) * rng.uniform(0.5, 1.5, (1, k)) - rng.uniform(
        0, 80, (1, k)
    )
    allowed = (rng.random((n, k)) < 0.7) & (values > 0)
    room = rng.integers(0, n // 2 + 2, k)
    lp = lp_assignment(values, allowed, room)
    ex = exchange_assignment(values, allowed, room)
    greedy = _greedy(values, allowed, room)
    assert _objective(values, lp) >= _objective(values, greedy) - 1e-6
    assert _objective(values, ex) == pytest.approx(_objective(values, lp), abs=1e-6)
    for a in (lp, ex):
        assert (np.bincount(a[a >= 0], minlength=k) <= room).all()
        assert allowed[np.flatnonzero(a >= 0), a[a >= 0]].all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 30),
    provinces=st.lists(
        st.lists(st.sampled_from(["P1", "P2", "P3"]), max_size=2), min_size=1, max_size=5
    ),
    rooms=st.lists(st.integers(0, 12), min_size=5, max_size=5),
    active=st.lists(st.booleans(), min_size=5, max_size=5),
    share=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    seed=st.integers(0, 10_000),
)
def test_random_instances_never_break_capacity_province_or_at_most_once(
    n: int,
    provinces: list[list[str]],
    rooms: list[int],
    active: list[bool],
    share: float,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    k = len(provinces)
    acc = accounts(
        n,
        province=list(rng.choice(["P1", "P2", "P3", "P4"], n)),
        balance=rng.uniform(10, 10_000, n),
        recovery_probability=rng.uniform(0, 1, n),
        placement_no=rng.integers(1, 4, n),
    )
    ag = pd.DataFrame(
        {
            "agency_id": [f"A{j}" for j in range(k)],
            "room": rooms[:k],
            "provinces": [",".join(p) for p in provinces],
            "commission_rate": rng.uniform(0.1, 0.5, k),
            "liquidation_rate": rng.uniform(0, 0.4, k),
            "active": active[:k],
        }
    )
    excluded = pd.DataFrame(
        {
            "loan_id": acc["loan_id"].sample(frac=0.3, random_state=seed).astype(str),
            "agency_id": "A0",
        }
    )
    policy = PlacementPolicy(randomised_share=share, seed=seed)
    out = allocate_accounts(acc, ag, policy, AS_OF, excluded)
    check_constraints(out, acc, ag)
    assert not out.merge(excluded, on=["loan_id", "agency_id"]).shape[0]
    assert (out["expected_net_recovery"] > 0).all()


# -- liquidation rates ------------------------------------------------------------------


def _hist(agency: str, n: int, rate: float, balance: float = 1000.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "agency_id": [agency] * n,
            "measured": [True] * n,
            "balance_placed": [balance] * n,
            "collected": [balance * rate] * n,
        }
    )


def test_liquidation_rate_shrinks_toward_pool_when_data_is_thin() -> None:
    history = pd.concat([_hist("BIG", 1000, 0.10), _hist("NEW", 1, 0.90), _hist("MID", 20, 0.3)])
    rates = liquidation_rates(history, ["BIG", "NEW", "MID", "NONE"], 0.05, 20.0)
    r = rates.set_index("agency_id")
    pool = pool_rate(history, 0.05, 20.0)
    raw_pool = (100_000 + 900 + 6_000) / 1_021_000  # amount-based, over all agencies
    assert pool == pytest.approx(1021 / 1041 * raw_pool + 20 / 1041 * 0.05)  # prior, lightly
    assert r.loc["BIG", "liquidation_rate"] == pytest.approx(0.10, abs=0.003)
    assert r.loc["NEW", "liquidation_rate"] < 0.15  # one lucky placement barely counts
    assert r.loc["MID", "weight"] == pytest.approx(0.5)
    assert r.loc["MID", "liquidation_rate"] == pytest.approx(0.5 * 0.3 + 0.5 * pool, abs=0.003)
    assert r.loc["NONE", "placements"] == 0
    assert r.loc["NONE", "liquidation_rate"] == pytest.approx(pool)


def test_no_history_gives_the_prior_and_unmeasured_placements_do_not_count() -> None:
    empty = _hist("A", 0, 0.0)
    assert liquidation_rates(empty, ["A", "B"], 0.07, 20.0)["liquidation_rate"].tolist() == [
        pytest.approx(0.07),
        pytest.approx(0.07),
    ]
    running = _hist("A", 50, 0.0).assign(measured=False)
    assert liquidation_rates(running, ["A"], 0.07, 20.0)["liquidation_rate"].iloc[0] == (
        pytest.approx(0.07)
    )


# -- history ----------------------------------------------------------------------------


def _own(**cols: object) -> pd.DataFrame:
    base = {c: [] for c in PLACEMENT_COLUMNS}
    frame = pd.DataFrame(base)
    if cols:
        frame = pd.DataFrame(
            {c: cols.get(c, [None] * len(next(iter(cols.values())))) for c in base}
        )
    for c in ("start_date", "recall_date", "recalled_on"):
        frame[c] = pd.to_datetime(frame[c])
    return frame


def _actions(*rows: tuple) -> pd.DataFrame:
    """rows: (loan, agency, 'YYYY-MM-DD')."""
    return pd.DataFrame(
        {
            "loan_id": [r[0] for r in rows],
            "customer_id": ["C-" + r[0] for r in rows],
            "action_at": pd.to_datetime([r[2] + " 10:00" for r in rows]),
            "channel": ["agency"] * len(rows),
            "performed_by": [r[1] for r in rows],
        }
    )


def _repayments(*rows: tuple) -> pd.DataFrame:
    """rows: (id, loan, 'YYYY-MM-DD', amount, channel, agency, reversal_of)."""
    cols = ["repayment_id", "loan_id", "paid_at", "amount", "channel", "agency_id", "reversal_of"]
    out = pd.DataFrame(list(rows), columns=cols)
    out["paid_at"] = pd.to_datetime(out["paid_at"])
    return out


INSTALLMENTS = pd.DataFrame(
    {
        "loan_id": ["L1"] * 3 + ["L2"] * 2,
        "due_date": pd.to_datetime(
            ["2025-10-01", "2025-11-01", "2025-12-01", "2025-10-01", "2025-11-01"]
        ),
        "principal_due": [100.0, 100.0, 100.0, 500.0, 500.0],
        "interest_due": [10.0, 10.0, 10.0, 20.0, 20.0],
        "fee_due": [1.0, 1.0, 1.0, 0.0, 0.0],
    }
)


def test_outstanding_before_matches_a_plain_loop() -> None:
    reps = _repayments(
        ("r1", "L1", "2025-10-05", 50.0, "app", None, None),
        ("r2", "L1", "2025-11-15", 30.0, "agency", "A", None),
        ("r3", "L1", "2025-11-20", 30.0, "app", None, "r2"),  # reverses r2
        ("r4", "L2", "2025-11-01", 1000.0, "app", None, None),
    )
    loans = pd.Series(["L1", "L1", "L1", "L2", "L2", "L9"])
    on = pd.to_datetime(
        ["2025-09-01", "2025-11-15", "2025-12-01", "2025-11-01", "2025-11-02", "2025-11-02"]
    )
    got = outstanding_before(INSTALLMENTS, reps, loans, pd.Series(on))

    def plain(loan: str, d: pd.Timestamp) -> float:
        inst = INSTALLMENTS[INSTALLMENTS["loan_id"] == loan]
        due = inst["due_date"] <= d
        owed = inst["principal_due"].sum() + (inst["interest_due"] + inst["fee_due"])[due].sum()
        r = reps[(reps["loan_id"] == loan) & (reps["paid_at"] < d)]
        paid = np.where(r["reversal_of"].isna(), r["amount"], -r["amount"]).sum()
        return max(round(owed - paid, 2), 0.0)

    assert got.tolist() == [plain(a, b) for a, b in zip(loans, on, strict=True)]
    assert got.tolist()[:3] == [300.0, 272.0, 283.0]


def test_lender_placements_start_at_first_action_and_end_at_the_next_agency() -> None:
    acts = _actions(
        ("L1", "A", "2025-10-10"),
        ("L1", "A", "2025-10-20"),
        ("L1", "B", "2025-11-01"),
        ("L2", "A", "2025-06-01"),
        ("L3", "A", "2026-04-01"),  # after the as-of date: not known yet
    )
    got = lender_placements(acts, _own(), AS_OF, 120).set_index(["loan_id", "agency_id"])
    assert got.loc[("L1", "A"), "start_date"] == pd.Timestamp("2025-10-10")
    assert got.loc[("L1", "A"), "end_date"] == pd.Timestamp("2025-10-31")  # B starts Nov 1
    assert got.loc[("L1", "B"), "end_date"] == pd.Timestamp("2025-11-01") + pd.Timedelta(days=120)
    assert got.loc[("L2", "A"), "end_date"] == pd.Timestamp("2025-09-29")
    assert ("L3", "A") not in got.index


def test_history_measures_collections_net_of_reversals_within_the_window() -> None:
    acts = _actions(("L1", "A", "2025-10-10"), ("L1", "B", "2025-11-01"))
    reps = _repayments(
        ("r1", "L1", "2025-10-12", 40.0, "agency", "A", None),
        ("r2", "L1", "2025-10-15", 10.0, "agency", "A", None),
        ("r3", "L1", "2025-12-01", 10.0, "other", None, "r2"),  # reversal, booked later
        ("r4", "L1", "2025-11-05", 99.0, "agency", "A", None),  # after A's window
        ("r5", "L1", "2025-11-05", 25.0, "agency", "B", None),
        ("r6", "L1", "2025-10-20", 77.0, "app", None, None),  # not an agency payment
    )
    h = placement_history(_own(), acts, INSTALLMENTS, reps, AS_OF, 120)
    h = h.set_index("agency_id")
    assert h.loc["A", "collected"] == pytest.approx(40.0)
    assert h.loc["A", "balance_placed"] == pytest.approx(311.0)  # 300 + 11 due by Oct 10
    assert h.loc["B", "collected"] == pytest.approx(25.0)
    assert h["completed"].all() and h["measured"].all()
    assert set(h["source"]) == {"lender"}


def test_own_placement_is_not_counted_again_from_its_agency_actions() -> None:
    own = _own(
        placement_id=["A-L1-1"],
        loan_id=["L1"],
        customer_id=["C-L1"],
        agency_id=["A"],
        start_date=["2025-10-01"],
        recall_date=["2026-01-29"],
        recalled_on=["2025-12-01"],
        status=["recalled"],
        balance_placed=[300.0],
    )
    acts = _actions(("L1", "A", "2025-10-03"), ("L1", "A", "2025-10-05"))
    reps = _repayments(("r1", "L1", "2025-10-12", 60.0, "agency", "A", None))
    h = placement_history(own, acts, INSTALLMENTS, reps, AS_OF, 120)
    assert len(h) == 1
    assert h.iloc[0]["source"] == "own"
    assert h.iloc[0]["collected"] == pytest.approx(60.0)
    assert bool(h.iloc[0]["completed"]) and bool(h.iloc[0]["measured"])
    sold = placement_history(
        own.assign(recall_reason="off_book"), acts, INSTALLMENTS, reps, AS_OF, 120
    )
    assert bool(sold.iloc[0]["completed"]) and not bool(sold.iloc[0]["measured"])


# -- recalls ----------------------------------------------------------------------------


def _placed(**extra: list) -> pd.DataFrame:
    n = len(next(iter(extra.values())))
    cols = {
        "placement_id": [f"A-L{i}-1" for i in range(n)],
        "loan_id": [f"L{i}" for i in range(n)],
        "customer_id": [f"C{i}" for i in range(n)],
        "agency_id": ["A"] * n,
        "start_date": ["2026-01-01"] * n,
        "recall_date": ["2026-05-01"] * n,
        "recalled_on": [None] * n,
        "recall_reason": [None] * n,
        "status": ["active"] * n,
        "commission_rate": [0.2] * n,
        "balance_placed": [1000.0] * n,
    }
    cols.update(extra)
    return _own(**cols)


def test_recall_on_period_end_on_cure_and_off_book() -> None:
    p = _placed(recall_date=["2026-03-10", "2026-05-01", "2026-05-01", "2026-05-01", "2026-03-01"])
    snap = pd.DataFrame(
        {
            "loan_id": ["L0", "L1", "L2", "L4"],
            "dpd": [120, 0, 95, 0],
            "on_book": [True, True, False, True],
        }
    )
    # L3 is missing from the snapshot: no longer on the book.
    due = due_recalls(p, snap, AS_OF).set_index("placement_id")["recall_reason"]
    assert due.to_dict() == {
        "A-L0-1": PERIOD_END,
        "A-L1-1": CURED,
        "A-L2-1": OFF_BOOK,
        "A-L3-1": OFF_BOOK,
        "A-L4-1": CURED,  # cured wins over the period's end
    }
    assert due_recalls(p.iloc[:0], snap, AS_OF).empty
    closed = apply_recalls(p, due.reset_index(), AS_OF)
    assert (closed["status"] == "recalled").all()
    assert (closed["recalled_on"] == pd.Timestamp(AS_OF)).all()


def test_undo_day_reopens_that_days_recalls_and_drops_its_placements() -> None:
    p = _placed(
        start_date=["2026-01-01", "2026-03-10", "2026-01-01"],
        recalled_on=[None, None, "2026-03-10"],
        recall_reason=[None, None, "cured"],
        status=["active", "active", "recalled"],
    )
    got = undo_day(p, AS_OF)
    assert got["placement_id"].tolist() == ["A-L0-1", "A-L2-1"]
    assert got["status"].tolist() == ["active", "active"]
    assert got["recalled_on"].isna().all()


def test_recalled_account_may_go_to_another_agency_up_to_the_maximum() -> None:
    history = pd.DataFrame({"loan_id": ["L1", "L2", "L2", "L2"], "agency_id": ["A", "A", "B", "C"]})
    terms, excluded = placement_terms(history, pd.Series(["L1", "L2", "L3"]), 3)
    assert terms.set_index("loan_id")["placement_no"].to_dict() == {"L1": 2, "L3": 1}
    assert set(map(tuple, excluded.to_numpy())) >= {("L1", "A")}


# -- commissions ------------------------------------------------------------------------


def test_commissions_on_agency_collections_with_reversal_clawback() -> None:
    p = _placed(
        loan_id=["L1", "L2"],
        agency_id=["A", "B"],
        placement_id=["A-L1-1", "B-L2-2"],
        start_date=["2026-02-01", "2026-02-01"],
        recalled_on=[None, "2026-02-20"],
        status=["active", "recalled"],
        commission_rate=[0.2, 0.3],
    )
    reps = _repayments(
        ("r1", "L1", "2026-02-05", 100.0, "agency", "A", None),
        ("r2", "L1", "2026-02-06", 50.0, "agency", "B", None),  # not the holder
        ("r3", "L1", "2026-01-30", 70.0, "agency", "A", None),  # before the placement
        ("r4", "L2", "2026-02-20", 200.0, "agency", "B", None),  # recall day counts
        ("r5", "L2", "2026-02-21", 10.0, "agency", "B", None),  # after the recall
        ("r6", "L1", "2026-03-01", 100.0, "other", None, "r1"),  # reversal of r1
        ("r7", "L1", "2026-03-02", 40.0, "app", None, None),  # in-house payment
        ("r8", "L1", "2026-03-11", 5.0, "agency", "A", None),  # after the as-of date
    )
    c = compute_commissions(p, reps, AS_OF).set_index("repayment_id")
    assert c.index.tolist() == ["r1", "r4", "r6"]
    assert c.loc["r1", "commission"] == pytest.approx(20.0)
    assert c.loc["r4", "commission"] == pytest.approx(60.0)
    assert c.loc["r4", "placement_id"] == "B-L2-2"
    assert c.loc["r6", "kind"] == CLAWBACK
    assert c.loc["r6", "amount"] == pytest.approx(-100.0)
    assert c.loc["r6", "commission"] == pytest.approx(-20.0)
    assert c.loc["r6", "reversal_of"] == "r1"
    assert (c.loc[["r1", "r4"], "kind"] == COMMISSION).all()


# -- policy -----------------------------------------------------------------------------


def test_policy_yaml_states_the_defaults_and_loads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_placement_policy(DEFAULT_PLACEMENT_POLICY_FILE) == PlacementPolicy()
    own = tmp_path / "placement.yaml"
    own.write_text("placement_period_days: 90\nfixed_cost_by_agency: {AG04: 35}\n")
    monkeypatch.setenv("NPL_PLACEMENT_POLICY", str(own))
    policy = load_placement_policy()
    assert policy.placement_period_days == 90
    assert policy.fixed_cost_for(np.array(["AG04", "AG01"])).tolist() == [35.0, 20.0]
    own.write_text("placement_period_dayz: 90\n")
    with pytest.raises(ValidationError):
        load_placement_policy()
    with pytest.raises(ValidationError):
        PlacementPolicy(commission_uplift={1: 0.1})

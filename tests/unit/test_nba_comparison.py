"""The nba comparison's maths on small synthetic frames: the Welch interval is the
experiment marts' delta-method interval with x = 1, pairing is by loan, and no nba arm
means no rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nplpipeline.report.kpis.plan import incremental_recovery
from nplpipeline.report.nba.measure import OUTCOMES, compare_arms, compare_paired


def _accounts(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "nba", None)  # null = static
    frame = pd.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(n)],
            "tier": np.where(np.arange(n) % 4 == 0, "severe", "mild"),
            "policy_arm": arm,
            "repaid": rng.uniform(0, 200, n) + np.where(arm == "nba", 20.0, 0.0),
            "contact_cost": np.where(arm == "nba", 5.0, 10.0),
            "commissions": 1.0,
            "contacts": rng.integers(0, 5, n).astype(float),
            "complaints": (rng.uniform(size=n) < 0.05).astype(float),
        }
    )
    return frame


def _row(result: pd.DataFrame, segment: str, policy: str) -> pd.Series:
    return result[(result["segment"] == segment) & (result["policy"] == policy)].iloc[0]


def test_arm_difference_and_interval_match_the_experiment_marts_formula() -> None:
    accounts = _accounts()
    result = compare_arms(accounts, tiers=("mild", "severe"))
    assert result["segment"].drop_duplicates().tolist() == ["overall", "mild", "severe"]
    assert set(result["baseline"]) == {"static"}
    diff = _row(result, "overall", "difference")
    net = accounts["repaid"] - accounts["contact_cost"] - accounts["commissions"]
    nba = accounts["policy_arm"].eq("nba")
    assert diff["net_recovery"] == pytest.approx(net[nba].mean() - net[~nba].mean())
    assert diff["accounts"] == 200 and diff["baseline_accounts"] == 200
    # mart_experiment_uplift's delta-method interval with overdue = 1 per account is
    # the Welch interval of the difference of mean net recovery
    same = incremental_recovery(
        accounts.assign(
            arm=np.where(nba, "nba", "static"), overdue_at_entry=1.0, net=net, recovered=False
        ),
        arm_a="nba", arm_b="static", arm_column="arm", amount="net",
    )  # fmt: skip
    assert diff["net_recovery_ci_low"] == pytest.approx(same["ci_low"].iloc[0])
    assert diff["net_recovery_ci_high"] == pytest.approx(same["ci_high"].iloc[0])
    # complaints are per 1,000 accounts, their interval too
    rate = accounts.groupby(nba)["complaints"].mean() * 1000
    assert diff["complaints_per_1000"] == pytest.approx(rate[True] - rate[False])
    assert diff["complaints_ci_low"] < diff["complaints_per_1000"] < diff["complaints_ci_high"]
    # the arm rows carry the interval of their own mean
    arm = _row(result, "mild", "nba")
    mild = accounts[nba & accounts["tier"].eq("mild")]
    assert arm["contacts"] == pytest.approx(mild["contacts"].mean())
    half = 1.959964 * mild["contacts"].std(ddof=1) / np.sqrt(len(mild))
    assert arm["contacts_ci_high"] - arm["contacts"] == pytest.approx(half, rel=1e-5)
    assert _row(result, "overall", "static")["contact_cost"] == pytest.approx(10.0)


def test_a_real_effect_is_inside_its_interval_and_zero_is_not() -> None:
    diff = _row(compare_arms(_accounts(4000)), "overall", "difference")
    # true effect: +20 repaid, +5 saved on contact cost
    assert diff["net_recovery_ci_low"] < 25.0 < diff["net_recovery_ci_high"]
    assert diff["net_recovery_ci_low"] > 0


def test_no_nba_arm_gives_no_rows() -> None:
    accounts = _accounts().assign(policy_arm=None)
    assert compare_arms(accounts).empty
    assert compare_arms(accounts.drop(columns="policy_arm")).empty  # older warehouses
    nba_world = accounts.iloc[:0]
    assert compare_paired(nba_world, accounts).empty


def test_pairing_is_by_loan_and_a_missing_loan_did_nothing() -> None:
    n = 50
    mine = pd.DataFrame(
        {"loan_id": [f"L{i}" for i in range(n)], "tier": "mild",
         "repaid": np.arange(n, dtype=float) + 10, "contact_cost": 5.0, "commissions": 0.0,
         "contacts": 2.0, "complaints": 0.0}
    )  # fmt: skip
    # the status quo's rows shuffled, one loan absent there, an extra loan not in the arm
    theirs = mine.assign(repaid=mine["repaid"] - 10, contact_cost=0.0, contacts=1.0)
    theirs = pd.concat(
        [theirs.iloc[1:].sample(frac=1, random_state=1), theirs.iloc[:1].assign(loan_id="X")]
    )
    result = compare_paired(mine, theirs)
    assert set(result["baseline"]) == {"status_quo"}
    diff = _row(result, "overall", "difference")
    # loan L0 repaid 10 in the nba world and nothing (absent) in the status quo's
    expected = (mine["repaid"] - 5.0).to_numpy() - np.r_[0.0, (mine["repaid"] - 10)[1:]]
    assert diff["net_recovery"] == pytest.approx(expected.mean())
    # paired: the per-loan differences vary only at L0, so the interval is narrow
    sd = expected.std(ddof=1)
    assert diff["net_recovery_ci_high"] - diff["net_recovery"] == pytest.approx(
        1.959964 * sd / np.sqrt(n), rel=1e-5
    )
    assert diff["contacts"] == pytest.approx(2.0 - (n - 1) / n)
    assert diff["accounts"] == n and diff["baseline_accounts"] == n
    assert _row(result, "overall", "status_quo")["repaid"] == pytest.approx(
        (mine["repaid"] - 10)[1:].sum() / n
    )


def test_outcome_columns_are_required() -> None:
    with pytest.raises(ValueError, match="lacks"):
        compare_arms(_accounts().drop(columns=list(OUTCOMES[:1])))


def _run(seed: int, diff: dict[str, float] | None) -> dict[str, object]:
    rows = []
    if diff is not None:
        base = {"baseline": "static", "segment": "overall", "policy": "difference",
                "start_date": "2026-11-01", "days": 60, "accounts": 1500.0,
                "baseline_accounts": 480, "confidence": 0.95}  # fmt: skip
        rows = [{**base, **diff}]
    return {"loans": 2000, "seed": seed, "days": 60, "nba": rows}


def test_live_run_prints_the_nba_rows_per_seed_and_their_mean() -> None:
    from benchmarks.live_run import _nba_markdown

    def diff(v: float, half: float) -> dict[str, float]:
        out = {}
        for k, ci in (("net_recovery", "net_recovery_ci"), ("contacts", "contacts_ci"),
                      ("complaints_per_1000", "complaints_ci")):  # fmt: skip
            out.update({k: v, f"{ci}_low": v - half, f"{ci}_high": v + half})
        return out

    text = _nba_markdown([_run(42, diff(2.0, 1.96)), _run(7, diff(4.0, 1.96)), _run(11, None)])
    static = text.split("vs status quo")[0]
    assert "| 2,000 loans, seed 11 | 60 | no nba arm |" in static
    assert "+2.00 [+0.04, +3.96]" in static
    assert "| 2,000 loans, seed 42 | 60 | 1,500 | 480 |" in static
    # mean 3.0; the seeds' standard errors are 1.0 each: ± 1.96 · √2 / 2
    mean = next(line for line in static.splitlines() if line.startswith("| mean of 2"))
    assert "+3.00 [+1.61, +4.39]" in mean
    # no run with an nba arm at all: still a table, no mean row
    empty = _nba_markdown([_run(42, None)])
    assert "no nba arm" in empty and "mean of" not in empty

"""Features and labels on a simulated portfolio: no look-ahead, labels match the
simulator's truth, and the stage writes idempotent partitions on both warehouses."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.config.policy import load_policy
from nplpipeline.features import FEATURE_COLUMNS, FeatureConfig, build_features, label_accounts
from nplpipeline.features.build import FeatureBuilder
from nplpipeline.features.schema import LABEL_COLUMN
from nplpipeline.features.stage import (
    load_training_frame,
    month_ends,
    read_inputs,
    run_build_features,
)
from nplpipeline.features.tables import int_features
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.simulate.stage import run_simulation
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.frames import read_frame

END = dt.date(2026, 10, 31)
POLICY = load_policy()
DAY = pd.Timedelta(days=1)


def _simulate_and_ingest(root: Path, warehouse_url: str, loans: int, seed: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "NPL_HOME": str(root / "var"),
            "NPL_WAREHOUSE_URL": warehouse_url,
            "NPL_LANDING_DIR": str(root / "landing"),
            "NPL_GROUND_TRUTH_DIR": str(root / "ground_truth"),
        }.items():
            mp.setenv(key, value)
        run_simulation(loans=loans, seed=seed, end_date=END, dirty_share=0.0, file_format="parquet")
        run_ingest(END)


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """3,000 simulated loans ingested once into DuckDB, read back as the stage reads them."""
    root = tmp_path_factory.mktemp("features")
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    _simulate_and_ingest(root, url, loans=3_000, seed=5)
    with transaction(url) as conn:
        frames, data_date = read_inputs(conn)
    truth = pd.read_parquet(root / "ground_truth" / "recovery_probability.parquet")
    truth["as_of_date"] = pd.to_datetime(truth["as_of_date"]).astype("datetime64[s]")
    yield {"frames": frames, "data_date": data_date, "truth": truth}


# --------------------------------------------------------------------------- leakage


def _after(as_of: dt.date, days: float = 1.0) -> pd.Timestamp:
    """A moment ``days`` after the end of the as-of day (days=0: its last second)."""
    return pd.Timestamp(as_of) + DAY + pd.Timedelta(days=days) - pd.Timedelta(seconds=1)


def perturb(frames: dict[str, pd.DataFrame], as_of: dt.date, at: pd.Timestamp) -> dict:
    """Every kind of change a later drop can bring, dated ``at``.

    New payments (large), reversals of payments made on or before the as-of date, new
    contacts (promises, complaints), bigger and extra installments due after the as-of
    date, loan status changes, brand-new loans with schedules and payments, and customer
    flags raised.
    """
    rng = np.random.default_rng(0)
    out = {k: v.copy() for k, v in frames.items()}
    cutoff = pd.Timestamp(as_of) + DAY
    loans = out["loans"]
    some = loans.sample(frac=0.5, random_state=1)

    pays = out["repayments"]
    new_pay = pd.DataFrame(
        {
            "repayment_id": [f"X-P{i}" for i in range(len(some))],
            "loan_id": some["loan_id"].to_numpy(),
            "paid_at": at,
            "amount": rng.uniform(50, 5000, len(some)).round(2),
            "reversal_of": None,
        }
    )
    earlier = pays[(pays["paid_at"] < cutoff) & pays["reversal_of"].isna()].sample(
        300, random_state=2
    )
    reversals = pd.DataFrame(
        {
            "repayment_id": [f"X-R{i}" for i in range(len(earlier))],
            "loan_id": earlier["loan_id"].to_numpy(),
            "paid_at": at,
            "amount": earlier["amount"].to_numpy(),
            "reversal_of": earlier["repayment_id"].to_numpy(),
        }
    )

    acts = out["collection_actions"]
    copies = acts.sample(2_000, random_state=3, replace=True).copy()
    copies["action_at"] = at
    copies.loc[copies.index[:700], "outcome"] = "promise_to_pay"
    copies.loc[copies.index[:700], "ptp_amount"] = 100.0
    copies.loc[copies.index[:700], "ptp_date"] = pd.Timestamp(as_of) - 5 * DAY
    copies.loc[copies.index[700:1000], "outcome"] = "complaint"
    copies.loc[copies.index[1000:1500], "outcome"] = "right_party_contact"
    copies.loc[copies.index[1000:1500], "channel"] = "call"

    inst = out["installments"]
    future = inst["due_date"] >= cutoff
    inst.loc[future, "principal_due"] = inst.loc[future, "principal_due"] * 3
    extra = inst.sort_values("installment_no").groupby("loan_id", as_index=False).tail(1).copy()
    extra["installment_no"] += 1
    extra["due_date"] = max(at, cutoff).normalize() + 30 * DAY

    # Status changes of loans the warehouse showed on book at the as-of date. (A loan
    # already off book then and touched again later cannot be told apart from one that
    # left the book later: see build.py; that limitation is not what is tested here.)
    known_off = (loans["updated_at"] < cutoff) & ~loans["status"].isin(
        POLICY.delinquency.on_book_statuses
    )
    changed = loans["loan_id"].isin(some["loan_id"]) & ~known_off
    loans.loc[changed, "status"] = rng.choice(["written_off", "closed", "sold"], changed.sum())
    loans.loc[changed, "updated_at"] = at
    newcomers = loans.head(100).copy()
    newcomers["loan_id"] = "X-L" + newcomers["loan_id"]
    newcomers["origination_date"] = max(at, cutoff).normalize()
    newcomers["updated_at"] = at
    new_inst = inst[inst["loan_id"].isin(loans.head(100)["loan_id"])].copy()
    new_inst["loan_id"] = "X-L" + new_inst["loan_id"]
    new_inst["due_date"] = max(at, cutoff).normalize() - 400 * DAY  # even "overdue" ones
    new_pays = new_pay.head(100).assign(loan_id=newcomers["loan_id"].to_numpy())
    new_pays["repayment_id"] = "X-N" + new_pays["repayment_id"]

    custs = out["customers"]
    flagged = custs.sample(frac=0.5, random_state=4).index
    for flag in ("deceased", "bankruptcy", "vulnerable", "do_not_contact", "dispute_open"):
        if flag in custs:
            custs.loc[flagged, flag] = True
    custs.loc[flagged, "updated_at"] = at

    out["repayments"] = pd.concat([pays, new_pay, reversals, new_pays], ignore_index=True)
    out["collection_actions"] = pd.concat([acts, copies], ignore_index=True)
    out["installments"] = pd.concat([inst, extra, new_inst], ignore_index=True)
    out["loans"] = pd.concat([loans, newcomers], ignore_index=True)
    out["customers"] = custs
    return out


def truncate(frames: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """The event tables as they stood at the end of the as-of day."""
    cutoff = pd.Timestamp(as_of) + DAY
    out = dict(frames)
    out["repayments"] = frames["repayments"][frames["repayments"]["paid_at"] < cutoff]
    out["collection_actions"] = frames["collection_actions"][
        frames["collection_actions"]["action_at"] < cutoff
    ]
    loans = frames["loans"][frames["loans"]["origination_date"] < cutoff]
    out["loans"] = loans
    out["installments"] = frames["installments"][
        frames["installments"]["loan_id"].isin(loans["loan_id"])
    ]
    return out


@pytest.mark.parametrize("as_of", [dt.date(2026, 3, 31), dt.date(2026, 6, 30)])
def test_no_feature_looks_past_its_as_of_date(portfolio, as_of: dt.date) -> None:
    frames = portfolio["frames"]
    base = build_features(frames, [as_of], POLICY)
    assert len(base) > 100

    later = build_features(perturb(frames, as_of, _after(as_of, days=3)), [as_of], POLICY)
    pd.testing.assert_frame_equal(base, later)

    # The warehouse already holds months of data after the as-of date: dropping it all
    # must not change anything either.
    pd.testing.assert_frame_equal(base, build_features(truncate(frames, as_of), [as_of], POLICY))

    # Control: the same changes dated on the as-of day itself are known that day, so
    # they must show (otherwise this test could not catch anything).
    same_day = build_features(perturb(frames, as_of, _after(as_of, days=0)), [as_of], POLICY)
    assert set(same_day["loan_id"]) != set(base["loan_id"])  # same-day payments cure
    merged = base.merge(same_day, on=["loan_id", "as_of_date"], suffixes=("", "_new"))
    for column in ("attempts_30d", "rpc_30d", "complaints_30d", "broken_ptp_30d"):
        assert (merged[column] != merged[f"{column}_new"]).any(), column


# --------------------------------------------------------------------------- labels


def test_labels_agree_with_simulator_truth(portfolio) -> None:
    frames, data_date = portfolio["frames"], portfolio["data_date"]
    dates = month_ends("2025-06-01", "2026-07-31")
    builder = FeatureBuilder(frames, POLICY, FeatureConfig())
    feats = builder.build_many(dates)
    feats[LABEL_COLUMN] = label_accounts(
        feats, frames, FeatureConfig(), policy=POLICY, data_date=data_date, builder=builder
    )
    labelled = feats[feats[LABEL_COLUMN].notna()]
    assert len(labelled) == len(feats) > 1_000  # every date's horizon is in the data

    truth = portfolio["truth"]
    both = labelled.merge(truth, on=["loan_id", "as_of_date"], suffixes=("", "_truth"))
    assert len(both) >= 0.9 * len(labelled), "populations should mostly coincide"
    assert (both["dpd"] == both["dpd_truth"]).mean() >= 0.95
    agree = both[LABEL_COLUMN].astype(bool) == both["cured_within_90d"]
    defaults = both["kind"] != "late_payment"
    assert agree.mean() >= 0.9
    assert agree[defaults].mean() >= 0.9
    # ...and the labels carry signal beyond the base rate.
    assert 0.1 < both[LABEL_COLUMN].astype(bool).mean() < 0.6


def test_rows_are_unlabelled_until_the_horizon_has_passed(portfolio) -> None:
    frames, data_date = portfolio["frames"], portfolio["data_date"]
    assert data_date == END
    dates = [dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 10, 31)]
    feats = build_features(frames, dates, POLICY)
    labels = label_accounts(feats, frames, FeatureConfig(), policy=POLICY, data_date=data_date)
    by_date = labels.notna().groupby(feats["as_of_date"]).mean()
    assert by_date[pd.Timestamp("2026-07-31")] == 1.0  # Jul 31 + 90 days = Oct 29
    assert by_date[pd.Timestamp("2026-08-31")] == 0.0
    assert by_date[pd.Timestamp("2026-10-31")] == 0.0


def test_population_is_delinquent_unique_and_complete(portfolio) -> None:
    frames = portfolio["frames"]
    as_of = dt.date(2026, 5, 31)
    feats = build_features(frames, [as_of], POLICY)
    assert (feats["dpd"] > 0).all()
    assert not feats.duplicated(["loan_id", "as_of_date"]).any()
    assert (feats["bucket"] != "current").all()
    assert feats[[c for c in FEATURE_COLUMNS if feats[c].dtype == "int64"]].notna().all().all()
    # Same population as the delinquency engine's delinquent loans whose status did not
    # take them off the book by the as-of date.
    from nplpipeline.delinquency import compute_snapshot

    snap = compute_snapshot(
        frames["loans"], frames["installments"], frames["repayments"], as_of, POLICY.delinquency
    )
    loans = frames["loans"].set_index("loan_id")
    snap = snap[snap["dpd"] > 0]
    known_off = (loans.loc[snap["loan_id"], "updated_at"] < pd.Timestamp(as_of) + DAY) & ~loans.loc[
        snap["loan_id"], "status"
    ].isin(POLICY.delinquency.on_book_statuses)
    expected = set(snap["loan_id"][~known_off.to_numpy()])
    assert set(feats["loan_id"]) == expected


# --------------------------------------------------------------------------- stage


@pytest.fixture
def small_warehouse(npl_env, tmp_path: Path) -> str:
    _simulate_and_ingest(tmp_path, npl_env["NPL_WAREHOUSE_URL"], loans=800, seed=9)
    return npl_env["NPL_WAREHOUSE_URL"]


def _table(url: str) -> pd.DataFrame:
    with transaction(url) as conn:
        frame = read_frame(conn, sa.select(int_features))
    return frame.sort_values(["as_of_date", "loan_id"]).reset_index(drop=True)


def test_stage_writes_idempotent_partitions(small_warehouse) -> None:
    dates = [dt.date(2026, 5, 31), dt.date(2026, 6, 30), dt.date(2026, 9, 30)]
    first = run_build_features(dates)
    table = _table(small_warehouse)
    assert first["rows"] == len(table) > 0
    assert "L0" not in json.dumps(first), "no identifiers in the task result"
    assert set(table["as_of_date"].dt.date) == set(dates)
    per_date = first["per_date"]
    assert per_date["2026-09-30"]["labelled"] == 0 < per_date["2026-05-31"]["labelled"]
    assert table.loc[table["as_of_date"] == "2026-09-30", LABEL_COLUMN].isna().all()

    again = run_build_features(dates)
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in first.items() if k != "seconds"
    }
    pd.testing.assert_frame_equal(table, _table(small_warehouse))

    # Rebuilding one date replaces only that partition.
    run_build_features([dt.date(2026, 6, 30)])
    pd.testing.assert_frame_equal(table, _table(small_warehouse))

    with opened(small_warehouse) as engine:
        training = load_training_frame(engine, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert len(training) == first["labelled"]
    assert training[LABEL_COLUMN].dtype == bool
    assert set(training["as_of_date"].dt.date) == {dt.date(2026, 5, 31), dt.date(2026, 6, 30)}
    assert list(training.columns[3 : 3 + len(FEATURE_COLUMNS)]) == list(FEATURE_COLUMNS)
    # What is stored is what build_features returns (same values, same dtypes).
    with transaction(small_warehouse) as conn:
        frames, _ = read_inputs(conn)
    rebuilt = build_features(frames, [dt.date(2026, 5, 31)], POLICY)
    stored = training[training["as_of_date"] == "2026-05-31"][rebuilt.columns].reset_index(
        drop=True
    )
    pd.testing.assert_frame_equal(stored, rebuilt, check_categorical=False)

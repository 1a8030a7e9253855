"""The features stage reads only the loans that can get a row (``stg_arrears_candidates``)
and still builds exactly what reading the whole book builds: every column, the labels
and their data date, on training month-ends and on the live day, whole and sharded, on
both warehouses, from a dirty simulated portfolio (late rows, reversals, quarantine)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nplpipeline.features.build import FeatureBuilder
from nplpipeline.features.calendar import month_ends
from nplpipeline.features.config import load_feature_config
from nplpipeline.features.labels import label_accounts
from nplpipeline.features.schema import LABEL_COLUMN, LABEL_DATA_DATE_COLUMN
from nplpipeline.features.stage import build_and_store_features, read_inputs
from nplpipeline.features.window import training_month_ends
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.settings import get_settings
from nplpipeline.simulate.stage import run_simulation
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.shards import Shard

END = dt.date(2026, 10, 31)
DATE_SETS = {
    "training": training_month_ends(END, 6),
    "live": [END],
    "mid_month_and_month_ends": [dt.date(2026, 4, 14), *month_ends("2026-05-01", "2026-07-31")],
}


def _whole_book_features(dates: list[dt.date], shard: Shard | None) -> pd.DataFrame:
    """What the stage built before the prefilter: every loan read and prepared."""
    settings = get_settings()
    policy, config = settings.policy.delinquency, load_feature_config()
    with opened(settings.warehouse_url) as engine, begin(engine) as conn:
        frames, data_date = read_inputs(conn, dates[-1], shard)
    builder = FeatureBuilder(frames, policy, config)
    features = builder.build_many(dates)
    features[LABEL_COLUMN] = label_accounts(
        features, frames, config, policy=policy, data_date=data_date, builder=builder
    )
    features[LABEL_DATA_DATE_COLUMN] = pd.Timestamp(data_date) if data_date else pd.NaT
    return features


def _loans_read(dates: list[dt.date], shard: Shard | None) -> tuple[int, int]:
    """(loans read with the prefilter, loans read without it)."""
    settings = get_settings()
    with opened(settings.warehouse_url) as engine, begin(engine) as conn:
        narrowed, _ = read_inputs(conn, dates[-1], shard, rows_on=dates)
        whole, _ = read_inputs(conn, dates[-1], shard)
    return len(narrowed["loans"]), len(whole["loans"])


def test_prefiltered_features_equal_the_whole_books(npl_env) -> None:
    run_simulation(loans=700, seed=17, end_date=END, dirty_share=0.03, file_format="parquet")
    run_ingest(END)
    checked = 0
    for name, dates in DATE_SETS.items():
        for shard in (None, Shard(0, 2), Shard(1, 2)):
            expected = _whole_book_features(dates, shard)
            built, _ = build_and_store_features(dates, shard=shard)
            assert len(built) > 0, name
            pd.testing.assert_frame_equal(built, expected, check_exact=True, obj=name)
            assert expected[LABEL_COLUMN].notna().any() or name == "live", name
            narrowed, whole = _loans_read(dates, shard)
            assert built["loan_id"].nunique() <= narrowed < whole, name  # it does narrow
            checked += len(built)
    assert checked > 500


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_candidates_cover_every_delinquent_on_book_loan(npl_env) -> None:
    """The superset holds loan by loan: every loan with a row on a date is a candidate
    of that date alone (no other date's candidates hide a miss)."""
    run_simulation(loans=500, seed=3, end_date=END, dirty_share=0.03, file_format="parquet")
    run_ingest(END)
    whole = _whole_book_features(month_ends("2025-11-01", "2026-10-31"), None)
    for as_of, rows in whole.groupby("as_of_date"):
        day = as_of.date()
        settings = get_settings()
        with opened(settings.warehouse_url) as engine, begin(engine) as conn:
            narrowed, _ = read_inputs(conn, day, None, rows_on=[day])
        assert set(rows["loan_id"]) <= set(narrowed["loans"]["loan_id"]), day


# loan -> (status, schedule [(no, due, principal, interest, fee)],
#          repayments [(id, paid_at, amount, reversal_of, drop)]): the engine's edges
DUES = ("2026-08-01", "2026-09-01", "2026-10-01")
LATE = "2026-11-05"  # a later drop: rows arriving after the as-of date
EDGES: dict[str, tuple[str, list[tuple], list[tuple]]] = {
    "partly_paid": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                    [("p1", "2026-08-15", 150, None, LATE)]),
    "reversed": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                 [("r1", "2026-08-01", 300, None, "2026-08-02"),
                  ("r1x", "2026-10-15", 300, "r1", LATE)]),
    "reversed_later": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                       [("q1", "2026-08-01", 300, None, "2026-08-02"),
                        ("q1x", "2026-11-05", 300, "q1", LATE)]),
    "blank_reversal_of": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                          [("b1", "2026-09-01", 200, "  ", "2026-09-02"),
                           ("b2", "2026-10-01", 100, "\t", "2026-10-02")]),
    "numbered_out_of_date_order": ("active",
                                   [(1, "2026-10-01", 100, 0, 0), (2, "2026-08-01", 100, 0, 0)],
                                   [("o1", "2026-08-02", 100, None, "2026-08-03")]),
    "due_today": ("active", [(1, "2026-10-31", 100, 0, 0)], []),
    "one_cent_left": ("active", [(n, d, 90, 9, 1) for n, d in enumerate(DUES, 1)],
                      [("c1", "2026-10-20", 299.99, None, "2026-10-21")]),
    "overpaid": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                 [("v1", "2026-09-30", 1000, None, "2026-10-01")]),
    "paid_after_as_of": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                         [("a1", "2026-11-02", 300, None, LATE)]),
    "no_schedule": ("active", [], []),
    "zero_installment_first": ("active",
                               [(1, "2026-07-01", 0, 0, 0), (2, "2026-09-01", 100, 0, 0)], []),
    "fee_first_waterfall": ("active",
                            [(1, "2026-09-01", 80, 15, 5), (2, "2026-10-01", 80, 15, 5)],
                            [("f1", "2026-09-01", 150, None, "2026-09-02")]),
    "charged_off": ("charged_off", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)], []),
    "written_off": ("written_off", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)], []),
    "closed_after_as_of": ("active", [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)], []),
}  # fmt: skip


def _seed_edges(conn) -> None:
    from raw_rows import insert_raw

    from nplpipeline.contract import ENTITIES
    from nplpipeline.warehouse.history import append_versions
    from nplpipeline.warehouse.tables import HISTORY_TABLES

    loan = {"product": "cash_loan", "origination_date": pd.Timestamp("2026-01-15"),
            "principal_amount": 300, "annual_interest_rate": 0.2, "term_months": 3,
            "updated_at": pd.Timestamp("2026-01-15")}  # fmt: skip
    insert_raw(
        conn,
        "loans",
        [
            {**loan, "loan_id": k, "customer_id": f"c-{k}", "status": s}
            for k, (s, _, _) in EDGES.items()
        ],
        drop_date=pd.Timestamp("2026-01-15"),
    )
    later = pd.DataFrame([{**loan, "loan_id": "closed_after_as_of", "customer_id": "c-x",
                           "status": "closed", "updated_at": pd.Timestamp("2026-11-04"),
                           "currency": None, "_version": pd.Timestamp("2026-11-04"),
                           "_drop_date": pd.Timestamp(LATE), "_source_file": "loans/late.csv",
                           "_row_number": 2}])  # fmt: skip
    append_versions(conn, HISTORY_TABLES["loans"], ENTITIES["loans"].key, later, ["loans/late.csv"])
    installments = [
        {"loan_id": k, "installment_no": n, "due_date": pd.Timestamp(due),
         "principal_due": p, "interest_due": i, "fee_due": f}
        for k, (_, schedule, _) in EDGES.items() for n, due, p, i, f in schedule
    ]  # fmt: skip
    insert_raw(conn, "installments", installments, drop_date=pd.Timestamp("2026-01-15"))
    for drop in sorted({row[4] for _, _, paid in EDGES.values() for row in paid}):
        rows = [
            {"repayment_id": rid, "loan_id": k, "paid_at": pd.Timestamp(at), "amount": amount,
             "reversal_of": rev, "channel": "app", "updated_at": pd.Timestamp(at)}
            for k, (_, _, paid) in EDGES.items() for rid, at, amount, rev, d in paid if d == drop
        ]  # fmt: skip
        insert_raw(conn, "repayments", rows, drop_date=pd.Timestamp(drop))


@pytest.mark.parametrize(
    "dates",
    [[dt.date(2026, 10, 31)], [dt.date(2026, 9, 15), dt.date(2026, 10, 31), dt.date(2026, 11, 5)]],
)
def test_prefilter_keeps_the_engines_edge_cases(npl_env, dates: list[dt.date]) -> None:
    from nplpipeline.schema import ensure_schema

    with opened(get_settings().warehouse_url) as engine, begin(engine) as conn:
        ensure_schema(conn)
        _seed_edges(conn)
    expected = _whole_book_features(dates, None)
    built, _ = build_and_store_features(dates)
    pd.testing.assert_frame_equal(built, expected, check_exact=True)
    on_oct_31 = set(built.loc[built["as_of_date"] == pd.Timestamp("2026-10-31"), "loan_id"])
    assert {"partly_paid", "reversed", "charged_off", "closed_after_as_of"} <= on_oct_31
    assert not {"overpaid", "due_today", "written_off", "reversed_later"} & on_oct_31
    narrowed, whole = _loans_read(dates, None)
    assert len(on_oct_31) <= narrowed < whole == len(EDGES)

"""Every kind of dirty row the simulator injects is quarantined by the rule named for it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.ingest.stage import run_ingest
from nplpipeline.settings import get_settings
from nplpipeline.simulate.stage import run_simulation
from nplpipeline.validate.gx_runner import data_docs_index
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import dq_results, load_audit, quarantine

AS_OF = dt.date(2026, 10, 31)


def expected_rules(kind: str, column: str) -> set[str]:
    """The rule(s) that must name an injected row; any one of them is a catch."""
    return {
        "duplicate_key": {"unique_key"},
        "negative_amount": {f"range:{column}"},
        "orphan_loan_id": {"orphan:loan_id"},
        "future_date": {f"not_future:{column}"},
        "impossible_date": {f"plausible:{column}", f"not_future:{column}"},
        "malformed_phone": {"format:phone"},
        "invalid_value": {f"value_set:{column}"},
        "rate_above_cap": {f"range:{column}"},
    }[kind]


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_every_injected_dirty_row_is_caught_by_its_rule(npl_env) -> None:
    summary = run_simulation(loans=3_000, seed=11, end_date=AS_OF, dirty_share=0.02)
    run_ingest(AS_OF)
    settings = get_settings()
    dirty = pd.read_parquet(settings.ground_truth_dir / "dirty_rows.parquet")
    assert set(dirty["kind"]) == set(summary["dirty_rows"]), "every kind is exercised"

    with transaction(settings.warehouse_url) as conn:
        held = read_frame(conn, sa.select(quarantine))
        audit = read_frame(conn, sa.select(load_audit))
        dq = read_frame(conn, sa.select(dq_results))

    held["drop_date"] = held["drop_date"].dt.date.astype(str)
    dirty["drop_date"] = dirty["drop_date"].astype(str)
    joined = dirty.merge(
        held,
        left_on=["entity", "drop_date", "key"],
        right_on=["entity", "drop_date", "record_key"],
        how="left",
    )
    joined["caught"] = [
        isinstance(rules, str) and bool(expected_rules(kind, col) & set(rules.split(";")))
        for kind, col, rules in zip(joined["kind"], joined["column"], joined["rules"], strict=True)
    ]
    per_kind = joined.groupby(["kind", "entity"])["caught"].all()
    assert per_kind.all(), per_kind[~per_kind]
    # the Great Expectations checkpoint saw the same breaches, rule for rule
    failed = dq[~dq["success"] & (dq["severity"] == "critical")]
    quarantined_rules = {r for rules in held["rules"] for r in rules.split(";")}
    assert quarantined_rules - {"duplicate_row"} <= set(failed["rule"])
    critical_passed = dq["success"] & (dq["severity"] == "critical")
    assert (dq.loc[critical_passed, "unexpected_count"] == 0).all()
    assert data_docs_index(settings.gx_dir) is not None
    # and nothing was lost on the way
    assert (audit["rows_in"] == audit["rows_loaded"] + audit["rows_quarantined"]).all()
    assert audit["rows_in"].sum() == sum(summary["rows_written"].values())

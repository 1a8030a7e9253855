"""Ingest: conservation, quarantine with named rules, rejection of unreadable drops,
replay-order independence and PII masking, on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from landing_fixtures import (
    ACTION,
    CUSTOMER,
    LOAN,
    REPAYMENT,
    SURVEY,
    clean_portfolio,
    csv_text,
    installment,
    write_drop,
)

from nplpipeline.contract import LOAD_ORDER
from nplpipeline.ingest.loader import IngestError, IngestOptions, ingest_entity
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import RAW_TABLES, load_audit, quarantine

UP_TO = dt.date(2026, 1, 31)


def load_all(engine, landing: Path, options: IngestOptions | None = None) -> dict[str, object]:
    return {e: ingest_entity(engine, landing, e, UP_TO, options) for e in LOAD_ORDER}


def table_rows(engine, entity: str) -> pd.DataFrame:
    table = RAW_TABLES[entity]
    with begin(engine) as conn:
        ensure_schema(conn)
        frame = read_frame(conn, sa.select(table).order_by(*table.primary_key.columns))
    return frame.reset_index(drop=True)


def quarantined(engine) -> pd.DataFrame:
    with begin(engine) as conn:
        return read_frame(conn, sa.select(quarantine).order_by(quarantine.c.row_number))


def test_clean_drops_load_and_audit_conserves_rows(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    loads = load_all(engine, tmp_path)
    assert loads["installments"].rows_loaded == 3
    assert table_rows(engine, "loans")["loan_id"].tolist() == ["L1"]
    with begin(engine) as conn:
        audit = read_frame(conn, sa.select(load_audit))
    assert len(audit) == 4
    assert (audit["rows_in"] == audit["rows_loaded"] + audit["rows_quarantined"]).all()


@pytest.mark.parametrize(
    ("entity", "bad_row", "rule"),
    [
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "amount": "-5.00"}, "range:amount"),
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "loan_id": "NOPE"}, "orphan:loan_id"),
        (
            "repayments",
            {**REPAYMENT, "repayment_id": "R9", "paid_at": "2026-03-01T00:00:00"},
            "not_future:paid_at",
        ),
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "reversal_of": "R4"}, "reversal_target"),
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "paid_at": "yesterday"}, "type:paid_at"),
        ("customers", {**CUSTOMER, "customer_id": "C9", "phone": "+86 138-0013"}, "format:phone"),
        (
            "customers",
            {**CUSTOMER, "customer_id": "C9", "birth_date": "1850-01-01"},
            "plausible:birth_date",
        ),
        ("loans", {**LOAN, "loan_id": "L9", "product": "payday"}, "value_set:product"),
        (
            "loans",
            {**LOAN, "loan_id": "L9", "annual_interest_rate": "0.48"},
            "range:annual_interest_rate",
        ),
        (
            "loans",
            {**LOAN, "loan_id": "L9", "origination_date": "2026-02-01"},
            "not_future:origination_date",
        ),
        (
            "installments",
            {**installment(9, "2026-09-01"), "principal_due": "-1"},
            "range:principal_due",
        ),
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "loan_id": ""}, "not_null:loan_id"),
        ("repayments", {**REPAYMENT, "repayment_id": "R9", "amount": "12,5"}, "type:amount"),
        (
            "repayments",
            {**REPAYMENT, "repayment_id": "R9", "channel": "wechat"},
            "value_set:channel",
        ),
        (
            "customers",
            {**CUSTOMER, "customer_id": "C9", "do_not_contact": "maybe"},
            "type:do_not_contact",
        ),
        ("loans", {**LOAN, "loan_id": "L9", "term_months": "12.5"}, "type:term_months"),
        ("loans", {**LOAN, "loan_id": "L9", "customer_id": "C404"}, "orphan:customer_id"),
        ("collection_actions", {**ACTION, "action_id": "A9", "ptp_date": ""}, "ptp_complete"),
        (
            "collection_actions",
            {**ACTION, "action_id": "A9", "outcome": "shouted"},
            "value_set:outcome",
        ),
        ("satisfaction", {**SURVEY, "survey_id": "S9", "score": ""}, "score_or_complaint"),
        ("satisfaction", {**SURVEY, "survey_id": "S9", "score": "7"}, "range:score"),
    ],
)
def test_each_rule_quarantines_the_breaking_row(
    engine, tmp_path: Path, entity, bad_row, rule
) -> None:
    clean_portfolio(tmp_path)
    # three good rows beside the bad one keep the file under the rejection threshold
    write_drop(tmp_path, entity, "2026-01-02", [*_distinct_good_rows(entity, 3), bad_row])
    load_all(engine, tmp_path)
    q = quarantined(engine)
    hits = q[q["rules"].str.split(";").apply(lambda rules: rule in rules)]
    assert len(hits) == 1, q[["entity", "rules"]]
    assert hits.iloc[0]["entity"] == entity
    assert hits.iloc[0]["row_number"] == 5  # header is line 1, bad row is the fourth data row
    assert hits.iloc[0]["source_file"] == f"{entity}/2026-01-02/part-0.csv"


def _distinct_good_rows(entity: str, n: int) -> list[dict[str, str]]:
    if entity == "installments":
        return [installment(10 + i, "2026-09-01") for i in range(n)]
    template, key = {
        "collection_actions": (ACTION, "action_id"),
        "satisfaction": (SURVEY, "survey_id"),
        "repayments": (REPAYMENT, "repayment_id"),
        "customers": (CUSTOMER, "customer_id"),
        "loans": (LOAN, "loan_id"),
    }[entity]
    return [{**template, key: f"G{i}"} for i in range(n)]


def test_duplicate_keys_conflicting_all_quarantined_exact_repeats_keep_one(
    engine, tmp_path
) -> None:
    clean_portfolio(tmp_path)
    rows = [
        {**REPAYMENT, "repayment_id": "D1"},
        {**REPAYMENT, "repayment_id": "D1"},  # exact repeat
        {**REPAYMENT, "repayment_id": "D2", "amount": "10.00"},
        {**REPAYMENT, "repayment_id": "D2", "amount": "20.00"},  # conflicting
        *[{**REPAYMENT, "repayment_id": f"G{i}"} for i in range(4)],
    ]
    write_drop(tmp_path, "repayments", "2026-01-02", rows)
    load_all(engine, tmp_path)
    q = quarantined(engine)
    assert sorted(q["record_key"] + ":" + q["rules"]) == [
        "D1:duplicate_row", "D2:unique_key", "D2:unique_key",
    ]  # fmt: skip
    assert "D1" in set(table_rows(engine, "repayments")["repayment_id"])
    assert "D2" not in set(table_rows(engine, "repayments")["repayment_id"])


def test_a_row_breaking_several_rules_lists_every_rule(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    bad = {**REPAYMENT, "repayment_id": "R9", "loan_id": "NOPE", "amount": "-1"}
    write_drop(tmp_path, "repayments", "2026-01-02", [*_distinct_good_rows("repayments", 3), bad])
    load_all(engine, tmp_path)
    rules = quarantined(engine).set_index("record_key").loc["R9", "rules"]
    assert set(rules.split(";")) == {"orphan:loan_id", "range:amount"}


def test_quarantine_masks_pii(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    bad = {**CUSTOMER, "customer_id": "C9", "phone": "+86 138-0013", "full_name": "李娜"}
    write_drop(tmp_path, "customers", "2026-01-02", [*_distinct_good_rows("customers", 3), bad])
    load_all(engine, tmp_path)
    raw = json.loads(quarantined(engine).iloc[0]["raw_values"])
    assert raw["phone"] == "+99 999-9999"
    assert "李娜" not in json.dumps(raw, ensure_ascii=False)
    assert raw["national_id"] == "99999999999999999x"
    assert raw["province"] == "广东省"  # not PII: kept for the engineer


def _warehouse_state(engine) -> dict[str, list]:
    return {
        e: table_rows(engine, e).to_dict("records") for e in ("customers", "loans", "repayments")
    }


@pytest.mark.parametrize(
    "problem",
    ["missing_column", "undecodable", "empty", "bad_gzip", "mostly_bad"],
)
def test_unreadable_drop_fails_naming_the_file_and_changes_nothing(
    engine, tmp_path: Path, problem: str
) -> None:
    clean_portfolio(tmp_path)
    load_all(engine, tmp_path)
    before = _warehouse_state(engine)
    folder = tmp_path / "repayments" / "2026-01-05"
    folder.mkdir(parents=True)
    if problem == "missing_column":
        write_drop(
            tmp_path,
            "repayments",
            "2026-01-05",
            [{**REPAYMENT, "repayment_id": "R5"}],
            drop_columns=("amount",),
        )
        expected = "missing required column(s) amount"
    elif problem == "undecodable":
        write_drop(
            tmp_path,
            "repayments",
            "2026-01-05",
            [{**REPAYMENT, "repayment_id": "R5", "channel": "银行"}],
            encoding="gb18030",
        )
        expected = "not valid utf-8"
    elif problem == "empty":
        (folder / "part-0.csv").write_bytes(b"")
        expected = "file is empty"
    elif problem == "bad_gzip":
        (folder / "part-0.csv.gz").write_bytes(b"not gzip at all")
        expected = "not a readable gzip file"
    else:
        write_drop(
            tmp_path,
            "repayments",
            "2026-01-05",
            [{**REPAYMENT, "repayment_id": f"R{i}", "amount": "-1"} for i in range(25)],
        )
        expected = "100% of 25 rows break the contract"
    with pytest.raises(IngestError) as error:
        ingest_entity(engine, tmp_path, "repayments", UP_TO)
    assert "repayments/2026-01-05/part-0.csv" in str(error.value)
    assert expected in str(error.value)
    assert _warehouse_state(engine) == before
    assert "R5" not in str(before)


def test_a_small_all_bad_drop_is_quarantined_row_by_row(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    write_drop(
        tmp_path,
        "repayments",
        "2026-01-05",
        [{**REPAYMENT, "repayment_id": f"R{i}", "amount": "-1"} for i in range(3)],
    )
    load = load_all(engine, tmp_path)["repayments"]
    assert (load.rows_in, load.rows_loaded, load.rows_quarantined) == (4, 1, 3)


def test_gb18030_exports_are_read_when_configured(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    ingest_entity(engine, tmp_path, "customers", UP_TO)  # the UTF-8 history
    write_drop(
        tmp_path,
        "customers",
        "2026-01-02",
        [{**CUSTOMER, "customer_id": "C2", "city": "深圳市"}],
        encoding="gb18030",
    )
    ingest_entity(engine, tmp_path, "customers", UP_TO, IngestOptions(encoding="gb18030"))
    cities = table_rows(engine, "customers").set_index("customer_id")["city"]
    assert cities["C2"] == "深圳市"


def test_utf8_bom_and_gzip_and_parquet_drops_load(engine, tmp_path: Path) -> None:
    clean_portfolio(tmp_path)
    bom = write_drop(tmp_path, "customers", "2026-01-02", [{**CUSTOMER, "customer_id": "C2"}])
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())
    gz = write_drop(tmp_path, "customers", "2026-01-03", [{**CUSTOMER, "customer_id": "C3"}])
    gz.with_name("part-0.csv.gz").write_bytes(gzip.compress(gz.read_bytes()))
    gz.unlink()
    parquet = tmp_path / "customers" / "2026-01-04" / "part-0.parquet"
    parquet.parent.mkdir(parents=True)
    pd.DataFrame([{**CUSTOMER, "customer_id": "C4"}]).to_parquet(parquet)
    ingest_entity(engine, tmp_path, "customers", UP_TO)
    assert table_rows(engine, "customers")["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]


def test_rerun_loads_nothing_new_and_replay_order_does_not_matter(
    warehouse_url: str, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    clean_portfolio(landing)
    newer = {**LOAN, "status": "closed", "updated_at": "2026-01-03T00:00:00"}
    write_drop(landing, "loans", "2026-01-03", [newer])
    # a late drop carrying an older version of the loan must not win
    write_drop(landing, "loans", "2026-01-04", [{**LOAN, "updated_at": "2025-12-31T00:00:00"}])

    with (
        opened(warehouse_url) as forward,
        opened(f"duckdb:///{tmp_path / 'backward.duckdb'}") as backward,
    ):
        load_all(forward, landing)
        ingest_entity(backward, landing, "customers", UP_TO)
        # newest loan drops first, as after an outage
        for day in ("2026-01-04", "2026-01-03", None):
            _only_dates(
                landing, "loans", day, lambda: ingest_entity(backward, landing, "loans", UP_TO)
            )
        load_all(backward, landing)

        for engine in (forward, backward):
            assert all(r.files == 0 for r in load_all(engine, landing).values())
        states = [_warehouse_state(forward), _warehouse_state(backward)]
    assert states[0] == states[1]
    assert states[0]["loans"][0]["status"] == "closed"


def _only_dates(landing: Path, entity: str, day: str | None, load) -> None:
    """Hide every other date folder of ``entity`` while ``load`` runs (a replay of one day)."""
    folder = landing / entity
    if day is None or not folder.exists():
        load()
        return
    hidden = []
    for sub in folder.iterdir():
        if sub.name != day:
            target = sub.with_name("." + sub.name)
            sub.rename(target)
            hidden.append((target, sub))
    try:
        load()
    finally:
        for target, original in hidden:
            target.rename(original)


def test_children_of_a_quarantined_parent_say_so_and_do_not_reject_their_file(
    engine, tmp_path: Path
) -> None:
    clean_portfolio(tmp_path)
    write_drop(
        tmp_path,
        "loans",
        "2026-01-02",
        [*_distinct_good_rows("loans", 3), {**LOAN, "loan_id": "LBAD", "product": "payday"}],
    )
    children = [{**REPAYMENT, "repayment_id": f"K{i}", "loan_id": "LBAD"} for i in range(30)]
    write_drop(
        tmp_path, "repayments", "2026-01-02", [*children, {**REPAYMENT, "repayment_id": "OK"}]
    )
    loads = load_all(engine, tmp_path)  # 30 of 31 rows held back, yet the file is not rejected
    assert loads["repayments"].rules == {"parent_quarantined:loan_id": 30}
    q = quarantined(engine)
    assert set(q.loc[q["entity"] == "repayments", "rules"]) == {"parent_quarantined:loan_id"}


# -- no row values in errors: every path by which ingest refuses a drop ------------------
PII_ROW = {
    **CUSTOMER,
    "customer_id": "C7",
    "full_name": "李秀英",
    "national_id": "440103198801015678",
    "phone": "+8613912345678",
}
PII_VALUES = ("李秀英", "440103198801015678", "+8613912345678", "13912345678")


def _pii_drop(folder: Path, problem: str) -> tuple[str, str]:
    """A broken customers drop full of PII; returns (file name, expected problem text)."""
    good = csv_text("customers", [CUSTOMER, PII_ROW])
    header, clean, pii_line = good.splitlines()
    width = len(header.split(","))
    if problem == "extra_field":
        text = "\n".join([header, clean, pii_line + ",李秀英的备注"]) + "\n"
        return _write(folder, "part-0.csv", text.encode()), (
            f"line 3 has {width + 1} field(s), the header has {width}"
        )
    if problem == "unterminated_quote":
        text = "\n".join([header, clean, '"' + pii_line]) + "\n"
        return _write(folder, "part-0.csv", text.encode()), "not a readable CSV"
    if problem == "bad_gzip":  # starts with the row itself: gzip's error quotes its first bytes
        return _write(folder, "part-0.csv.gz", pii_line.encode()), "not a readable gzip file"
    if problem == "bad_parquet":
        return _write(folder, "part-0.parquet", good.encode()), "not a readable Parquet file"
    raise AssertionError(problem)


def _write(folder: Path, name: str, data: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


@pytest.mark.parametrize(
    "problem", ["extra_field", "unterminated_quote", "bad_gzip", "bad_parquet"]
)
def test_a_broken_drop_full_of_pii_fails_without_any_of_it(
    engine, tmp_path: Path, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    import traceback

    name, expected = _pii_drop(tmp_path / "customers" / "2026-01-02", problem)
    with caplog.at_level("DEBUG"), pytest.raises(IngestError) as error:
        ingest_entity(engine, tmp_path, "customers", UP_TO)
    message = str(error.value)
    assert f"customers/2026-01-02/{name}" in message and expected in message
    # what the Airflow task log would show: the whole traceback, chained causes included
    shown = "".join(traceback.format_exception(error.value)) + caplog.text + repr(error.value)
    for value in PII_VALUES:
        assert value not in shown, (problem, value)


def test_a_database_refusal_names_the_drop_without_row_values(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import traceback

    from nplpipeline.ingest import loader

    write_drop(tmp_path, "customers", "2026-01-01", [PII_ROW])

    def refuse(conn, *_args, **_kwargs):
        conn.execute(sa.text("SELECT CAST(:v AS INTEGER)"), {"v": PII_ROW["full_name"]})

    monkeypatch.setattr(loader, "_write_rows", refuse)  # the batch's write, any entity
    with pytest.raises(loader.IngestDatabaseError) as error:
        ingest_entity(engine, tmp_path, "customers", UP_TO)
    shown = "".join(traceback.format_exception(error.value))
    assert "customers/2026-01-01/part-0.csv" in shown and "row values withheld" in shown
    assert PII_ROW["full_name"] not in shown

"""The vectorised engine equals the plain reference on random small portfolios."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_delinquency import reference_snapshot

from nplpipeline.config.policy import DelinquencyPolicy, load_policy
from nplpipeline.delinquency import SNAPSHOT_COLUMNS, compute_snapshot
from nplpipeline.delinquency.schema import DATE_COLUMNS, MONEY_COLUMNS

BASE = dt.date(2024, 1, 1)
STATUSES = ["active", "closed", "charged_off", "written_off", "sold"]
DEFAULT = load_policy().delinquency
CUSTOM_BUCKETS = [
    {"name": "ok", "min_dpd": 0, "max_dpd": 0, "regulatory_grade": "normal"},
    {"name": "early", "min_dpd": 1, "max_dpd": 45, "regulatory_grade": "watch"},
    {"name": "late", "min_dpd": 46, "regulatory_grade": "bad"},
]


def cents(low: int, high: int) -> st.SearchStrategy[float]:
    return st.integers(low, high).map(lambda c: c / 100)


@st.composite
def policies(draw) -> DelinquencyPolicy:
    raw = DEFAULT.model_dump()
    raw["waterfall"] = draw(st.permutations(["fee", "interest", "principal"]))
    raw["paid_tolerance"] = draw(st.sampled_from([0.005, 0.0, 0.01, 1.0]))
    raw["npl_min_dpd"] = draw(st.sampled_from([91, 31, 1]))
    if draw(st.booleans()):
        raw["buckets"] = CUSTOM_BUCKETS
    return DelinquencyPolicy.model_validate(raw)


@st.composite
def schedules(draw, loan_id: str, origination: dt.date) -> list[dict]:
    rows = []
    for no in range(1, draw(st.integers(0, 6)) + 1):
        due = origination + dt.timedelta(days=30 * no + draw(st.integers(-3, 3)))
        rows.append(
            {
                "loan_id": loan_id,
                "installment_no": no,
                "due_date": due,
                "principal_due": draw(st.one_of(st.just(0.0), cents(1, 50_000))),
                "interest_due": draw(st.one_of(st.just(0.0), cents(1, 3_000))),
                "fee_due": draw(st.sampled_from([0.0, 0.0, 0.01, 5.0, 19.99])),
            }
        )
    if len(rows) >= 2 and draw(st.integers(0, 9)) == 0:  # numbering out of due-date order
        rows[0]["due_date"], rows[1]["due_date"] = rows[1]["due_date"], rows[0]["due_date"]
    return rows


@st.composite
def repayments_for(
    draw, loan_id: str, origination: dt.date, schedule: list[dict], ids
) -> list[dict]:
    dues = [r["due_date"] for r in schedule]
    totals = [round(r["principal_due"] + r["interest_due"] + r["fee_due"], 2) for r in schedule]
    running = list(itertools.accumulate(totals))
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        day = draw(
            st.one_of(
                st.integers(-5, 260).map(lambda d: origination + dt.timedelta(days=d)),
                st.sampled_from(dues) if dues else st.nothing(),
            )
        )
        amount = draw(
            st.one_of(
                cents(1, 60_000),  # partial or overpayment
                cents(1, 300),
                st.sampled_from(totals) if totals else st.nothing(),  # exactly one installment
                st.sampled_from(running) if running else st.nothing(),  # exactly the first k
            )
        )
        if amount <= 0:
            continue
        seconds = draw(st.sampled_from([0, 1, 43_200, 86_399]))
        paid_at = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        payment_id = f"R{next(ids)}"
        rows.append(
            {
                "repayment_id": payment_id,
                "loan_id": loan_id,
                "paid_at": paid_at,
                "amount": amount,
                "reversal_of": draw(st.sampled_from([None, ""])),
            }
        )
        if draw(st.integers(0, 3)) == 0:  # reversed, sometimes much later
            later = dt.timedelta(
                days=draw(st.integers(0, 90)), seconds=draw(st.integers(0, 86_399))
            )
            rows.append(
                {
                    "repayment_id": f"R{next(ids)}",
                    "loan_id": loan_id,
                    "paid_at": paid_at + later,
                    "amount": amount,
                    "reversal_of": payment_id,
                }
            )
    return rows


@st.composite
def portfolios(draw) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dt.date]:
    ids = itertools.count()
    loans, installments, repayments = [], [], []
    for i in range(draw(st.integers(0, 6))):
        loan_id = f"L{i:03d}"
        origination = BASE + dt.timedelta(days=draw(st.integers(0, 150)))
        schedule = draw(schedules(loan_id, origination))
        loans.append(
            {
                "loan_id": loan_id,
                "customer_id": f"C{i % 3}",
                "product": draw(st.sampled_from(["cash_loan", "bnpl"])),
                "origination_date": origination,
                "principal_amount": 1000.0,
                "status": draw(st.sampled_from(STATUSES)),
            }
        )
        installments += schedule
        repayments += draw(repayments_for(loan_id, origination, schedule, ids))
    # Rows of a loan we were not given must be ignored.
    installments.append(
        {
            "loan_id": "GHOST",
            "installment_no": 1,
            "due_date": BASE,
            "principal_due": 9.0,
            "interest_due": 0.0,
            "fee_due": 0.0,
        }
    )
    repayments.append(
        {
            "repayment_id": "RG",
            "loan_id": "GHOST",
            "paid_at": dt.datetime(2024, 1, 2),
            "amount": 1.0,
            "reversal_of": None,
        }
    )

    anchors = [r["due_date"] for r in installments] + [r["paid_at"].date() for r in repayments]
    as_of = draw(
        st.one_of(
            st.integers(-10, 500).map(lambda d: BASE + dt.timedelta(days=d)),
            st.sampled_from(anchors),  # on a due date or a payment date
        )
    )
    frames = [
        pd.DataFrame(
            loans,
            columns=[
                "loan_id",
                "customer_id",
                "product",
                "origination_date",
                "principal_amount",
                "status",
            ],
        ),
        pd.DataFrame(installments),
        pd.DataFrame(repayments),
    ]
    frames[1] = (
        frames[1].sample(frac=1, random_state=draw(st.integers(0, 3))).reset_index(drop=True)
    )
    frames[2] = (
        frames[2].sample(frac=1, random_state=draw(st.integers(0, 3))).reset_index(drop=True)
    )
    style = draw(st.sampled_from(["python", "numpy", "string", "arrow"]))
    return (*[restyle(f, style) for f in frames], as_of)


def restyle(frame: pd.DataFrame, style: str) -> pd.DataFrame:
    """The same data with the column dtypes different loaders produce."""
    frame = frame.copy()
    for col in ("origination_date", "due_date", "paid_at"):
        if col not in frame:
            continue
        if style == "numpy":
            frame[col] = pd.to_datetime(frame[col])
        elif style == "string":
            frame[col] = frame[col].map(lambda v: v.isoformat()).astype(object)
        elif style == "arrow":
            kind = pa.timestamp("us") if col == "paid_at" else pa.date32()
            frame[col] = pd.Series(pa.array(list(frame[col]), type=kind), dtype=pd.ArrowDtype(kind))
    if style == "arrow":
        for col in ("loan_id", "repayment_id", "reversal_of"):
            if col in frame:
                frame[col] = frame[col].astype(pd.ArrowDtype(pa.string()))
    if style == "python":
        for col in frame.columns:
            if frame[col].dtype == "str":
                frame[col] = frame[col].astype(object)
    return frame


def assert_matches_reference(engine: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert list(engine.columns) == list(SNAPSHOT_COLUMNS)
    assert len(engine) == len(reference)
    if reference.empty:
        return
    engine = engine.sort_values("loan_id").reset_index(drop=True)
    reference = reference.sort_values("loan_id").reset_index(drop=True)
    for col in SNAPSHOT_COLUMNS:
        got, want = engine[col], reference[col]
        if col in MONEY_COLUMNS:
            diff = np.abs(got.to_numpy(float) - want.to_numpy(float))
            assert (diff <= 0.01 + 1e-9).all(), (col, list(got), list(want))
        elif col in DATE_COLUMNS:
            as_dates = [None if pd.isna(v) else pd.Timestamp(v).date() for v in got]
            assert as_dates == list(want), (col, as_dates, list(want))
        else:
            assert [v.item() if hasattr(v, "item") else v for v in got.astype(object)] == list(
                want
            ), (col, list(got), list(want))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolio=portfolios(), policy=policies())
def test_engine_equals_reference(portfolio, policy: DelinquencyPolicy) -> None:
    loans, installments, repayments, as_of = portfolio
    engine = compute_snapshot(loans, installments, repayments, as_of, policy)
    reference = reference_snapshot(loans, installments, repayments, as_of, policy)
    assert_matches_reference(engine, reference)


@pytest.mark.parametrize("style", ["python", "numpy", "string", "arrow"])
def test_restyle_really_changes_dtypes(style: str) -> None:
    """Guard the strategy: each style must present dates differently to the engine."""
    column = restyle(pd.DataFrame({"due_date": [BASE]}), style)["due_date"]
    checks = {
        "python": lambda c: c.dtype == object and type(c.iloc[0]) is dt.date,
        "numpy": lambda c: c.dtype.kind == "M",
        "string": lambda c: c.dtype == object and isinstance(c.iloc[0], str),
        "arrow": lambda c: c.dtype == pd.ArrowDtype(pa.date32()),
    }
    assert checks[style](column), column.dtype

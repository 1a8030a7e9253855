"""The DPD anchor: days past due per loan as of a date, as one plain DuckDB SQL query.

What a data engineer would write straight over the warehouse's raw tables, to judge the
delinquency stage's speed against (issue #14: the stage may take at most 1.5x this).
It follows the stage's rules (``nplpipeline/delinquency``), so both give the same DPD
(``tests/integration/test_dpd_anchor.py``):

- the loans are the versions valid at the end of the as-of day, originated by then;
- the paid pot is the net of repayments dated by the as-of day, a reversal row counting
  negatively on its own date, and never below zero;
- the pot settles installments oldest first (due date, then installment number), so an
  installment's unpaid part is what its running total due exceeds the pot by;
- DPD counts from the oldest installment due strictly before the as-of day whose unpaid
  part is above the paid tolerance, 0 when there is none.

    python benchmarks/dpd_anchor.py <warehouse.duckdb> 2026-10-31
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time

import duckdb
import pyarrow as pa

ANCHOR_SQL = """
WITH loans AS (
    SELECT loan_id
    FROM raw_loans_history
    WHERE valid_from < $day_end
      AND (valid_to IS NULL OR valid_to >= $day_end)
      AND origination_date <= $as_of
),
paid AS (
    SELECT r.loan_id,
           GREATEST(SUM(CASE WHEN NULLIF(trim(r.reversal_of), '') IS NULL
                             THEN r.amount ELSE -r.amount END) * 100, 0) AS pot_cents
    FROM raw_repayments AS r
    SEMI JOIN loans USING (loan_id)
    WHERE r.paid_at < $day_end
    GROUP BY r.loan_id
),
schedule AS (
    SELECT i.loan_id,
           i.due_date,
           (i.principal_due + i.interest_due + i.fee_due) * 100 AS due_cents,
           SUM((i.principal_due + i.interest_due + i.fee_due) * 100) OVER (
               PARTITION BY i.loan_id
               ORDER BY i.due_date, i.installment_no
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS through_cents
    FROM raw_installments AS i
    SEMI JOIN loans USING (loan_id)
),
oldest_unpaid AS (
    SELECT s.loan_id, MIN(s.due_date) AS due_date
    FROM schedule AS s
    LEFT JOIN paid AS p USING (loan_id)
    WHERE s.due_date < $as_of
      AND LEAST(s.due_cents, s.through_cents - COALESCE(p.pot_cents, 0)) > $tolerance_cents
    GROUP BY s.loan_id
)
SELECT l.loan_id, COALESCE(CAST($as_of AS DATE) - o.due_date, 0) AS dpd
FROM loans AS l
LEFT JOIN oldest_unpaid AS o USING (loan_id)
"""


def tolerance_cents(paid_tolerance: float) -> int:
    """Unpaid means more than this many whole cents left: the engine's rounding
    (``DelinquencyEngine``: 0.29 * 100 must not become 28)."""
    return math.floor(round(paid_tolerance * 100, 6))


def anchor_dpd(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, paid_tolerance: float = 0.005
) -> pa.Table:
    """``loan_id``, ``dpd`` of every loan known and originated by ``as_of``."""
    params = {
        "as_of": as_of,
        "day_end": dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()),
        "tolerance_cents": tolerance_cents(paid_tolerance),
    }
    return con.sql(ANCHOR_SQL, params=params).to_arrow_table()


def timed_anchor(path: str, as_of: dt.date, paid_tolerance: float) -> tuple[pa.Table, float]:
    """The anchor over the warehouse file at ``path`` and its seconds (query + fetch)."""
    con = duckdb.connect(path, read_only=True)
    try:
        clock = time.perf_counter()
        table = anchor_dpd(con, as_of, paid_tolerance)
        return table, time.perf_counter() - clock
    finally:
        con.close()


def compare_with_snapshot(path: str, as_of: dt.date, anchor: pa.Table) -> dict[str, int]:
    """How many loans' DPD differ between the anchor and the stage's stored snapshot
    (and how many loans only one of them has): all zero when they agree."""
    con = duckdb.connect(path, read_only=True)
    try:
        con.register("anchor", anchor)
        row = con.execute(
            """
            SELECT count(*) FILTER (WHERE s.loan_id IS NOT NULL AND a.loan_id IS NOT NULL
                                      AND s.dpd <> a.dpd),
                   count(*) FILTER (WHERE s.loan_id IS NULL),
                   count(*) FILTER (WHERE a.loan_id IS NULL)
            FROM anchor AS a
            FULL JOIN (SELECT loan_id, dpd FROM int_delinquency_snapshot
                       WHERE as_of_date = $as_of) AS s ON s.loan_id = a.loan_id
            """,
            {"as_of": as_of},
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return {"dpd_differs": row[0], "only_anchor": row[1], "only_snapshot": row[2]}


if __name__ == "__main__":
    table, seconds = timed_anchor(sys.argv[1], dt.date.fromisoformat(sys.argv[2]), 0.005)
    print(f"{table.num_rows} loans, {seconds:.2f} s")

"""Tomorrow's landing drops as the core system exports them: new and changed rows only.

Everything a step writes goes into the drop folder of the day simulated (``D + 1``),
through the simulator's writer, with dirty rows injected as in the history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.contract import ACTION_CHANNELS, ACTION_OUTCOMES, ENTITIES, REPAYMENT_CHANNELS
from nplpipeline.simulate.behaviour import STATUSES
from nplpipeline.simulate.columns import dates, decimal, ids, make_table, schema_for, timestamps
from nplpipeline.simulate.config import DAY, from_day
from nplpipeline.simulate.dirty import DIRTY_SCHEMA, KINDS, inject
from nplpipeline.simulate.loans import loans_rows
from nplpipeline.simulate.writer import write_entity

from .agencies import AGENCY_IDS
from .state import WorldState

ID_BASE = 5_000_000_000_000  # twin repayment / action / survey numbers (history: < 1e12)
TWIN_CHUNK_BASE = 100  # dirty-row id ranges of step k use chunk TWIN_CHUNK_BASE + k
ENTITY_ORDER = ("customers", "loans", "installments", "repayments", "collection_actions")
ENTITY_ORDER += ("satisfaction",)


def empty(entity: str) -> pa.Table:
    schema = schema_for(entity)
    t = schema.empty_table()
    return t.append_column("_drop", pa.array([], pa.int32()))


def _drop(n: int, day: int) -> np.ndarray:
    return np.full(n, day, dtype=np.int32)


def cust_ids(st: WorldState, cust: np.ndarray) -> pa.Array:
    return ids("C", st.borrowers["cust_no"][cust], 9)


def loan_ids(loan: np.ndarray) -> pa.Array:
    return ids("L", np.asarray(loan, dtype=np.int64), 9)


def repayments_table(st: WorldState, pay: dict[str, np.ndarray], day: int, staff) -> pa.Table:
    n = len(pay["loan"])
    coll = pa.array([*staff.collector_id, None])
    ags = pa.array([*AGENCY_IDS, None])
    cidx = np.where(pay["collector"] >= 0, pay["collector"], len(staff.collector_id))
    aidx = np.where(pay["agency"] >= 0, pay["agency"], len(AGENCY_IDS))
    cols = {
        "repayment_id": ids("P", ID_BASE + pay["no"], 13),
        "loan_id": loan_ids(pay["loan"]),
        "paid_at": timestamps(pay["ts"]),
        "amount": decimal(pay["amount"]),
        "reversal_of": pc.if_else(
            pa.array(pay["rev"] >= 0),
            ids("P", ID_BASE + np.maximum(pay["rev"], 0), 13),
            pa.scalar(None, pa.string()),
        ),
        "channel": pa.array(list(REPAYMENT_CHANNELS)).take(pa.array(pay["channel"])),
        "agency_id": ags.take(pa.array(aidx)),
        "collector_id": coll.take(pa.array(cidx)),
        "updated_at": timestamps(pay["ts"]),
    }
    return make_table("repayments", cols, _drop(n, day))


def actions_table(st: WorldState, acts: dict[str, np.ndarray], day: int, staff) -> pa.Table:
    """acts: loan, ts, channel (str), performer (collector idx), performer_agency, outcome,
    ptp_amount (cents, -1), ptp_day (-1), offer (str, '' none)."""
    n = len(acts["loan"])
    first = int(st.meta["next_action_no"])
    st.meta["next_action_no"] = first + n
    nc = len(staff.collector_id)
    performers = pa.array([*staff.collector_id, *AGENCY_IDS, None])
    by = np.where(
        acts["performer_agency"] >= 0,
        nc + acts["performer_agency"],
        np.where(acts["performer"] >= 0, acts["performer"], nc + len(AGENCY_IDS)),
    )
    ch = acts["channel"].astype(str)
    offer = acts["offer"].astype(str)
    cols = {
        "action_id": ids("A", ID_BASE + first + np.arange(n), 13),
        "loan_id": loan_ids(acts["loan"]),
        "customer_id": cust_ids(st, st.loans["cust"][acts["loan"]]),
        "action_at": timestamps(acts["ts"]),
        "channel": pa.array(ch),
        "performed_by": performers.take(pa.array(by)),
        "outcome": pa.array(list(ACTION_OUTCOMES)).take(pa.array(acts["outcome"])),
        "ptp_amount": decimal(np.maximum(acts["ptp_amount"], 0), null=acts["ptp_amount"] < 0),
        "ptp_date": dates(np.maximum(acts["ptp_day"], 0), null=acts["ptp_day"] < 0),
        "recorded": pa.array(np.isin(ch, ["call", "visit"]) & acts["recorded"]),
        "offer": pc.if_else(pa.array(offer != ""), pa.array(offer), pa.scalar(None, pa.string())),
    }
    assert set(ch) <= set(ACTION_CHANNELS)
    return make_table("collection_actions", cols, _drop(n, day))


def loans_table(st: WorldState, loans: np.ndarray, code: np.ndarray, day: int, rng) -> pa.Table:
    ts = day * DAY + 2 * 3600 + rng.integers(0, 3600, len(loans))
    t = loans_rows(
        st.loans_view(), loans, STATUSES, code, ts, cust_ids(st, st.loans["cust"][loans])
    )
    return t.set_column(t.num_columns - 1, "_drop", pa.array(_drop(len(loans), day)))


def customers_update(st: WorldState, cust: np.ndarray, day: int, rng) -> pa.Table:
    """Master rows of changed customers (disputes closed, deceased / bankrupt flagged)."""
    if len(cust) == 0:
        return empty("customers")
    bw = st.borrowers
    master = st.customers
    for name, values in (
        ("dispute_open", bw["dispute"]),
        ("deceased", (bw["event"] == 1) & (bw["event_day"] <= day)),
        ("bankruptcy", (bw["event"] == 2) & (bw["event_day"] <= day)),
    ):
        i = master.schema.get_field_index(name)
        master = master.set_column(i, name, pa.array(np.asarray(values, dtype=bool)))
    st.customers = master
    t = master.take(pa.array(cust))
    ts = day * DAY + rng.integers(9 * 3600, 18 * 3600, len(cust))
    i = t.schema.get_field_index("updated_at")
    t = t.set_column(i, "updated_at", timestamps(ts))
    return t.append_column("_drop", pa.array(_drop(len(cust), day)))


def satisfaction_table(st: WorldState, rows: dict[str, np.ndarray], day: int) -> pa.Table:
    n = len(rows["cust"])
    first = int(st.meta["next_survey_no"])
    st.meta["next_survey_no"] = first + n
    order = np.lexsort((np.arange(n), rows["ts"]))
    null = rows["score"][order] < 0
    cols = {
        "survey_id": ids("S", ID_BASE + first + np.arange(n), 13),
        "customer_id": cust_ids(st, rows["cust"][order]),
        "surveyed_at": timestamps(rows["ts"][order]),
        "score": pa.array(np.maximum(rows["score"][order], 0), mask=null),
        "complaint": pa.array(rows["complaint"][order]),
    }
    return make_table("satisfaction", cols, _drop(n, day))


def _clear(landing: Path, day: int) -> None:
    """A re-step rewrites the day's drop: its earlier files go first."""
    for entity in ENTITIES:
        folder = landing / entity / from_day(day).isoformat()
        if folder.is_dir():
            for f in folder.glob("part-*"):
                f.unlink()


def write_drops(
    st: WorldState, tables: dict[str, pa.Table], day: int, landing: Path, rng
) -> tuple[dict[str, int], pa.Table]:
    full = {e: tables.get(e) if tables.get(e) is not None else empty(e) for e in ENTITY_ORDER}
    for e, t in full.items():
        if "_drop" not in t.column_names:
            raise ValueError(f"{e} rows lack their drop day")
        full[e] = t.set_column(
            t.schema.get_field_index("_drop"), "_drop", pa.array(_drop(t.num_rows, day))
        )
    chunk = TWIN_CHUNK_BASE + int(st.meta["steps"])
    # inject() adds at least one row per kind; on a day's few rows that would be far
    # above the share, so a day gets dirt with the probability that keeps the share.
    share = float(st.meta["dirty_share"])
    n_rows = sum(t.num_rows for t in full.values())
    if share > 0 and rng.random() < min(1.0, share * n_rows / len(KINDS)):
        full, dirty = inject(rng, full, share, chunk)
    else:
        dirty = DIRTY_SCHEMA.empty_table()
    _clear(landing, day)
    rows = {}
    for e, t in full.items():
        n, _ = write_entity(t, e, 0, landing, str(st.meta["file_format"]))
        rows[e] = n
    return rows, dirty

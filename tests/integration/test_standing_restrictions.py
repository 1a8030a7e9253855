"""States a contact opens are never forgotten with age, and stay as-of correct.

The guardrails read rolling rules (caps, cooling-off) over a look-back window, but a
dispute, a promise still due or a wrong-party number binds until something closes it.
Seeded through the raw layer on both warehouses, read through the act stage's own
readers for several dates: a restriction 200 days old still holds, one closed before
the date does not, and one recorded after the date leaves that date's rerun unchanged.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from raw_rows import insert_raw

from nplpipeline.act import stage
from nplpipeline.act.guardrail_audit import audit_worklist
from nplpipeline.act.guardrails import apply_guardrails
from nplpipeline.act.guardrails_config import STRICTEST
from nplpipeline.schema import ensure_schema
from nplpipeline.staging import stg_customers_as_of
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.history import append_versions
from nplpipeline.warehouse.tables import HISTORY_TABLES, RAW_TABLES

D = dt.date(2026, 6, 15)
CUSTS = [f"C{i}" for i in range(9)]


def _at(days: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(D + dt.timedelta(days=days), dt.time(hour))


def _customer(cid: str, updated: dt.datetime, dispute_open: bool = False) -> dict:
    return {
        "customer_id": cid,
        "timezone": "Asia/Shanghai",
        "phone": f"+86138000000{CUSTS.index(cid):02d}",
        "do_not_contact": False,
        "deceased": False,
        "bankruptcy": False,
        "dispute_open": dispute_open,
        "vulnerable": False,
        "updated_at": updated,
    }


def _action(aid: str, cid: str, at: dt.datetime, outcome: str, ptp: dt.date | None = None):
    return {
        "action_id": aid,
        "loan_id": f"{cid}-L0",
        "customer_id": cid,
        "action_at": at,
        "channel": "call",
        "performed_by": "E1",
        "outcome": outcome,
        "ptp_date": ptp,
        "updated_at": at,
    }


# (drop date, rows): a contact is loaded with the next day's drop, as a CRM exports it
ACTIONS = [
    _action("A0", "C0", _at(-200), "dispute"),  # never resolved
    _action("A1", "C1", _at(-200), "dispute"),  # resolved at D-150 (below)
    _action("A2", "C2", _at(3), "dispute"),  # raised after D
    _action("A3", "C3", _at(-200), "wrong_party"),  # number never answered since
    _action("A4a", "C4", _at(-200), "wrong_party"),
    _action("A4b", "C4", _at(-190), "right_party_contact"),  # the number reached C4 again
    _action("A5", "C5", _at(-150), "promise_to_pay", D + dt.timedelta(days=10)),
    _action("A6a", "C6", _at(-150), "promise_to_pay", D + dt.timedelta(days=10)),
    _action("A6b", "C6", _at(-140), "paid"),  # the payment released the promise
    _action("A7", "C7", _at(0), "dispute"),  # dated D, arrives with D+1's drop
    _action("A8", "C8", _at(-200), "dispute"),  # resolved at D+2: after D
    _action("A9", "C1", _at(-5), "no_answer"),  # recent rows still read as before
]


def _customer_versions(conn) -> None:
    """Every customer at D-300, then C1's dispute closed at D-150 and C8's at D+2: the
    SCD2 history holds all versions, the raw table the latest, as the loader leaves them."""
    rows = [_customer(c, _at(-300)) for c in CUSTS]
    rows += [_customer("C1", _at(-150)), _customer("C8", _at(2))]
    table = RAW_TABLES["customers"]
    full = pd.DataFrame([{**{c.name: None for c in table.columns}, **r} for r in rows])
    full["_version"] = full["_drop_date"] = pd.to_datetime(full["updated_at"])
    full["_source_file"] = "customers/test.csv"
    full["_row_number"] = range(2, len(full) + 2)
    append_versions(conn, HISTORY_TABLES["customers"], ("customer_id",), full, [])
    insert_frame(conn, table, full.drop_duplicates("customer_id", keep="last"))


def _seed(url: str) -> None:
    with transaction(url) as conn:
        ensure_schema(conn)
        _customer_versions(conn)
        for row in ACTIONS:
            drop = pd.Timestamp(row["action_at"].date() + dt.timedelta(days=1))
            insert_raw(conn, "collection_actions", [row], drop_date=drop)


def _screen(url: str, as_of: dt.date, with_standing: bool = True):
    with opened(url) as engine, engine.connect() as conn:
        customers = stg_customers_as_of(conn, as_of, stage._CUSTOMER_COLUMNS)
        history, standing = stage._history(conn, as_of)
    candidates = pd.DataFrame(
        {
            "loan_id": [f"{c}-L0" for c in CUSTS],
            "customer_id": CUSTS,
            "channel": "call",
            "planned_local_time": "10:00",
        }
    )
    res = apply_guardrails(
        candidates,
        customers,
        history,
        as_of,
        STRICTEST,
        standing=standing if with_standing else None,
    )
    return res, customers, history, standing


def _reasons(res) -> dict[str, str]:
    return dict(zip(res.suppressed["customer_id"], res.suppressed["reason"], strict=True))


def test_old_states_still_bind_and_later_ones_do_not_reach_back(warehouse_url):
    _seed(warehouse_url)
    res, customers, history, standing = _screen(warehouse_url, D)
    held = _reasons(res)
    assert held == {
        "C0": "dispute:open_in_history",  # 200 days old, never resolved
        "C3": "wrong_party:number",  # 200 days old, never answered since
        "C5": "cooling_off:ptp_pending",  # made 150 days ago, due in 10
        "C8": "dispute:open_in_history",  # resolved only after D
    }
    assert set(res.allowed["customer_id"]) == {"C1", "C2", "C4", "C6", "C7"}
    # the window alone forgets every one of them: the gap this closes
    assert list(history["customer_id"]) == ["C1"]  # A9 only
    forgetful, *_ = _screen(warehouse_url, D, with_standing=False)
    assert _reasons(forgetful) == {}
    # the audit reads the same standing contacts, so it would catch a slip
    items = res.allowed.assign(
        item_id=res.allowed["customer_id"],
        earliest_local_time="08:00:00",
        latest_local_time="21:00:00",
        remaining_call_attempts=1,
    )
    sneaked = pd.concat(
        [items, items.iloc[:1].assign(customer_id="C0", loan_id="C0-L0", item_id="C0")]
    )
    audit = audit_worklist(sneaked, customers, history, D, STRICTEST, (), standing)
    assert audit.breaches.get("dispute:open_in_history") == ["C0"]


def test_a_rerun_after_later_drops_decides_the_same_and_later_dates_see_them(warehouse_url):
    _seed(warehouse_url)  # every drop, including D+1's and later ones, already loaded
    first, *_ = _screen(warehouse_url, D)
    again, *_ = _screen(warehouse_url, D)
    pd.testing.assert_frame_equal(first.allowed, again.allowed)
    assert "C2" not in _reasons(first) and "C7" not in _reasons(first)
    later = _reasons(_screen(warehouse_url, D + dt.timedelta(days=5))[0])
    assert later["C2"] == "dispute:open_in_history"  # raised on D+3
    assert later["C7"] == "dispute:open_in_history"  # D's own contact, known by D+1
    assert "C8" not in later  # resolved on D+2
    assert later["C0"] == "dispute:open_in_history"

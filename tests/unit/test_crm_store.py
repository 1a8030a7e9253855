"""The stand-in CRM's SQLite store: what a batch writes is only its own rows, a restart
keeps every key's receipt and every item, and another process reads one date's items."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nplpipeline.devtools import crm_store
from nplpipeline.devtools.crm_server import CrmState


def _item(i: int) -> dict:
    return {"item_id": f"W{i:04d}", "loan_id": f"L{i:09d}", "channel": "call", "queue": "调收"}


@pytest.mark.parametrize("persisted", [True, False])
def test_a_key_applies_once_and_items_count_their_duplicates(tmp_path: Path, persisted) -> None:
    state = CrmState(tmp_path / "crm.sqlite" if persisted else None)
    status, first = state.submit("2026-11-01", "a" * 64, "sha-a", [_item(1), _item(2)])
    assert status == 201 and first["status"] == "applied" and first["items"] == 2
    # the same key and body: the original receipt; another body: a conflict
    assert state.submit("2026-11-01", "a" * 64, "sha-a", [_item(1)]) == (
        200,
        {**first, "status": "replayed"},
    )
    status, conflict = state.submit("2026-11-01", "a" * 64, "sha-x", [_item(9)])
    assert status == 409 and conflict["receipt"] == first["receipt"]
    # an item already held for the date, and one repeated within the batch
    status, second = state.submit("2026-11-01", "b" * 64, "sha-b", [_item(2), _item(3), _item(3)])
    assert status == 201 and second["receipt"] != first["receipt"]
    state.submit("2026-11-02", "c" * 64, "sha-c", [_item(2)])  # another date: not a duplicate
    held = state.applied_items("2026-11-01")
    assert {k: v["count"] for k, v in held.items()} == {"W0001": 1, "W0002": 2, "W0003": 2}
    assert held["W0002"]["receipt"] == first["receipt"]  # a duplicate keeps its first receipt
    assert held["W0001"]["item"] == _item(1)
    stats = state.stats()
    assert stats["applied_batches"] == 3 and stats["replayed_batches"] == 1
    assert stats["duplicate_key_conflicts"] == 1 and stats["items_applied"] == 6
    assert stats["duplicate_items"] == 2 and stats["unique_items"] == 4
    assert stats["by_date"] == {"2026-11-01": 3, "2026-11-02": 1}
    assert list(state.batches) == ["a" * 64, "b" * 64, "c" * 64]


def test_a_restart_keeps_receipts_items_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    before = CrmState(path, receipt_style="integer")
    _, first = before.submit("2026-11-01", "a" * 64, "sha-a", [_item(1)])
    before.count("requests")
    before.submit("2026-11-01", "b" * 64, "sha-b", [_item(1)])
    before.close()
    after = CrmState(path, receipt_style="integer")
    assert after.submit("2026-11-01", "a" * 64, "sha-a", [_item(1)]) == (
        200,
        {**first, "status": "replayed"},
    )
    assert isinstance(first["receipt"], int)  # a receipt keeps its type through the store
    _, third = after.submit("2026-11-01", "c" * 64, "sha-c", [])
    assert third["receipt"] == first["receipt"] + 2  # numbering continues after a restart
    assert after.applied_items("2026-11-01")["W0001"]["count"] == 2
    stats = after.stats()
    assert stats["requests"] == 1 and stats["applied_batches"] == 3
    assert stats["duplicate_items"] == 1


def test_a_batch_writes_only_its_own_rows(tmp_path: Path) -> None:
    """Append-only in effect: a batch adds its rows and leaves every earlier row alone."""
    state = CrmState(tmp_path / "crm.sqlite")
    for day in range(1, 21):
        items = [_item(day * 100 + i) for i in range(50)]
        state.submit(f"2026-11-{day:02d}", f"{day:064x}", "sha", items)
    watch = sqlite3.connect(tmp_path / "crm.sqlite")
    earlier = watch.execute("SELECT as_of_date, item_id, count, receipt FROM items").fetchall()
    before = state.db.total_changes
    state.submit("2026-11-21", "f" * 64, "sha", [_item(1)])
    # one batch row, one item row, the counters it touched -- not the 1,000 items before
    assert state.db.total_changes - before <= 2 + len(state.counters)
    later = watch.execute("SELECT as_of_date, item_id, count, receipt FROM items").fetchall()
    assert set(earlier) < set(later) and len(later) == len(earlier) + 1


def test_another_process_reads_a_dates_items_while_the_crm_holds_the_store(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    state = CrmState(path)
    state.submit("2026-11-01", "a" * 64, "sha", [_item(1), _item(2)])
    state.submit("2026-11-02", "b" * 64, "sha", [_item(3)])
    code = (
        "import sys; from pathlib import Path; from nplpipeline.devtools.crm_store import"
        " applied_items; print(sorted(i['item_id'] for i in applied_items(Path(sys.argv[1]),"
        " '2026-11-01')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "['W0001', 'W0002']"
    assert crm_store.applied_items(path, "2026-11-03") == []
    assert crm_store.applied_items(tmp_path / "none.sqlite", "2026-11-01") is None

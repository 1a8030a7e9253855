"""A day's drop has arrived only once its completion marker is written; the simulator
marks every day it exports, empty days included."""

from __future__ import annotations

import datetime as dt

from nplpipeline.ingest.arrival import drop_arrived, drop_status
from nplpipeline.ingest.landing import list_drops, mark_drop_complete
from nplpipeline.settings import Settings

DAY = dt.date(2026, 10, 31)


def test_a_drop_arrives_with_its_marker_and_the_marker_is_no_drop(tmp_path, monkeypatch):
    monkeypatch.setenv("NPL_LANDING_DIR", str(tmp_path))
    monkeypatch.delenv("NPL_SOURCE_URL", raising=False)
    settings = Settings()
    (tmp_path / "loans" / DAY.isoformat()).mkdir(parents=True)
    (tmp_path / "loans" / DAY.isoformat() / "part-00000.csv").write_text("loan_id\n")
    assert not drop_arrived(DAY, settings)  # files alone may be half a drop
    mark_drop_complete(tmp_path, DAY)
    assert drop_arrived(DAY, settings)
    assert not drop_arrived(DAY + dt.timedelta(days=1), settings)
    assert drop_status(DAY, settings)["arrived"] is True
    assert [d.entity for d in list_drops(tmp_path, "loans")] == ["loans"]


def test_a_source_database_has_nothing_to_wait_for(tmp_path, monkeypatch):
    monkeypatch.setenv("NPL_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("NPL_SOURCE_URL", "postgresql+psycopg://u@127.0.0.1:1/src")
    assert drop_arrived(DAY, Settings())

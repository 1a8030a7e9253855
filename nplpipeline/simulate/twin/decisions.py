"""What the pipeline decided on a day, as the CRM and the agencies received it.

``DayDecisions`` columns (all from the pipeline's own exports, never the warehouse):

- ``worklist``: the CRM payload fields (``act/delivery/payload.py`` FIELDS) of the items
  the CRM applied for the date: ``item_id, loan_id, customer_id, channel, queue,
  assignee_id, second_assignee_id, queue_rank, timezone, window_start_utc,
  window_end_utc`` (naive UTC) and the offer fields ``offer_type, offer_instalments,
  offer_instalment_amount, offer_first_due_date``. The experiment arm is withheld from
  the CRM (payload.WITHHELD), so the twin never sees it.
- ``placements``: ``placement_id, loan_id, agency_id, placed_on, period_end``.
- ``recalls``: ``placement_id, loan_id, agency_id, recalled_on, reason``.
- ``offers``: the worklist items that carry an offer (``item_id, loan_id`` + offer fields).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

WORKLIST_COLUMNS = (
    "item_id",
    "loan_id",
    "customer_id",
    "channel",
    "queue",
    "assignee_id",
    "second_assignee_id",
    "queue_rank",
    "timezone",
    "window_start_utc",
    "window_end_utc",
    "offer_type",
    "offer_instalments",
    "offer_instalment_amount",
    "offer_first_due_date",
)
PLACEMENT_COLUMNS = ("placement_id", "loan_id", "agency_id", "placed_on", "period_end")
RECALL_COLUMNS = ("placement_id", "loan_id", "agency_id", "recalled_on", "reason")
OFFER_COLUMNS = ("item_id", "loan_id", *WORKLIST_COLUMNS[-4:])


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class DayDecisions:
    day: dt.date
    worklist: pd.DataFrame
    placements: pd.DataFrame
    recalls: pd.DataFrame
    offers: pd.DataFrame

    @classmethod
    def empty(cls, day: dt.date) -> DayDecisions:
        return cls(
            day,
            _empty(WORKLIST_COLUMNS),
            _empty(PLACEMENT_COLUMNS),
            _empty(RECALL_COLUMNS),
            _empty(OFFER_COLUMNS),
        )

    @classmethod
    def build(
        cls,
        day: dt.date,
        worklist: pd.DataFrame,
        placements: pd.DataFrame | None = None,
        recalls: pd.DataFrame | None = None,
    ) -> DayDecisions:
        w = worklist.copy()
        for c in WORKLIST_COLUMNS:
            if c not in w.columns:
                w[c] = None
        w = w.loc[:, list(WORKLIST_COLUMNS)].reset_index(drop=True)
        for c in ("window_start_utc", "window_end_utc"):
            w[c] = pd.to_datetime(w[c], utc=True, format="ISO8601").dt.tz_localize(None)
        offers = w.loc[w["offer_type"].notna(), list(OFFER_COLUMNS)].reset_index(drop=True)
        pl = _empty(PLACEMENT_COLUMNS) if placements is None else placements
        rc = _empty(RECALL_COLUMNS) if recalls is None else recalls
        return cls(day, w, pl.reset_index(drop=True), rc.reset_index(drop=True), offers)


def crm_state_file(settings) -> Path:
    """The stand-in CRM's store (SQLite, ``devtools/crm_store.py``)."""
    return Path(os.environ.get("NPL_CRM_STATE_FILE") or settings.home / "crm-standin.sqlite")


def _crm_items(settings, day: dt.date) -> pd.DataFrame | None:
    """Items the stand-in CRM applied for ``day`` (None: no CRM, files only).

    With a CRM, what it did not acknowledge it never received: a date it holds nothing
    for is an empty worklist, not the outbox files.
    """
    from nplpipeline.devtools.crm_store import applied_items

    rows = applied_items(crm_state_file(settings), day.isoformat())
    if rows is None:
        return None
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(WORKLIST_COLUMNS))


def _bundle_frames(root: Path, name: str) -> list[pd.DataFrame]:
    path = root / f"{name}.parquet"
    if not (root / "manifest.json").exists() or not path.exists():
        return []
    return [pd.read_parquet(path)]


def _outbox_worklist(outbox: Path, day: dt.date) -> pd.DataFrame:
    root = outbox / "crm" / day.isoformat()
    frames = []
    if (root / "manifest.json").exists():
        frames = [pd.read_parquet(p) for p in sorted(root.glob("worklist_*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _agency_exports(outbox: Path, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    pl, rc = [], []
    for folder in sorted((outbox / "agencies").glob(f"*/{day.isoformat()}")):
        agency = folder.parent.name
        pl += [f.assign(agency_id=agency) for f in _bundle_frames(folder, "placements")]
        rc += [f.assign(agency_id=agency) for f in _bundle_frames(folder, "recalls")]
    placements = pd.concat(pl, ignore_index=True) if pl else pd.DataFrame()
    recalls = pd.concat(rc, ignore_index=True) if rc else pd.DataFrame()
    placements = placements.rename(columns={"start_date": "placed_on", "recall_date": "period_end"})
    recalls = recalls.rename(columns={"recall_reason": "reason"})
    placements = placements.reindex(columns=list(PLACEMENT_COLUMNS))
    return placements, recalls.reindex(columns=list(RECALL_COLUMNS))


def read_pipeline_decisions(settings, day: dt.date) -> DayDecisions:
    """What the CRM received for ``day`` (the stand-in CRM's state file when there is one,
    else -- no CRM configured -- the outbox bundle) and the day's agency export bundles
    (placements, recalls) from the outbox."""
    outbox = Path(settings.outbox_dir)
    items = _crm_items(settings, day)
    if items is None:
        items = _outbox_worklist(outbox, day)
    placements, recalls = _agency_exports(outbox, day)
    return DayDecisions.build(day, items, placements, recalls)

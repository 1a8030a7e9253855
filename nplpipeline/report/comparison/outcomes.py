"""What really happened in one twin world over a window (S, E], read from its truth.

The twin writes ``truth_dir/days/<D>/`` for every simulated day D (see
``nplpipeline.simulate.twin``): ``repayments.parquet`` (signed cents, agency index, so
reversals and commission claw-backs net out), ``contacts.parquet`` (every contact the
CRM or an agency performed, with its outcome) and ``summary.json`` (the day's totals,
complaints and surveys included). The decisions each world received (worklist items,
placements, recalls, offers) are logged per day by the live run (``decisions_dir``),
since the truth records what happened, not what was asked.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from nplpipeline.contract import ACTION_OUTCOMES
from nplpipeline.report.comparison.measure import WorldOutcomes
from nplpipeline.simulate.reference import AGENCIES

COMPLAINT = "complaint"
DECISION_KINDS = ("worklist", "placement", "recall", "offer")
# The agencies' commission on what they collect, by the twin's agency index.
COMMISSION_RATE = np.array([a[2] for a in AGENCIES], dtype="float64")
# summary.json key -> outcome column: what the truth has only in total. Commissions are
# not taken from it: they are summed per loan from the agencies' repayments instead.
_TOTALS = {
    "complaints": "complaints",
    "surveys": "surveys",
    "satisfaction_sum": "survey_score_sum",
}


def window_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=k) for k in range(1, (end - start).days + 1)]


def _day_folder(truth_dir: Path, day: dt.date) -> Path:
    folder = Path(truth_dir) / "days" / day.isoformat()
    if not (folder / "summary.json").exists():
        raise FileNotFoundError(f"the twin has no truth for {day} in {truth_dir}")
    return folder


def _repayments(folder: Path) -> pd.DataFrame:
    frame = pd.read_parquet(
        folder / "repayments.parquet", columns=["loan_id", "amount_cents", "agency"]
    )
    amount = frame["amount_cents"].astype("float64") / 100.0
    agency = frame["agency"].fillna(-1).astype("int64").to_numpy()
    rate = np.where(agency >= 0, COMMISSION_RATE[np.clip(agency, 0, None)], 0.0)
    return pd.DataFrame(
        {"loan_id": frame["loan_id"], "repaid": amount, "commissions": amount * rate}
    )


def _contacts(folder: Path) -> pd.DataFrame:
    frame = pd.read_parquet(folder / "contacts.parquet", columns=["loan_id", "outcome"])
    outcome = frame["outcome"]
    if outcome.dtype.kind in "iu":  # outcome codes index the contract's vocabulary
        complaint = outcome.to_numpy() == ACTION_OUTCOMES.index(COMPLAINT)
    else:
        complaint = outcome.astype(str).to_numpy() == COMPLAINT
    return pd.DataFrame(
        {"loan_id": frame["loan_id"], "contacts": 1.0, "complaints": complaint * 1.0}
    )


def _decisions(decisions_dir: Path | None, days: list[dt.date]) -> pd.DataFrame:
    """Placements and recalls per loan, decided on the window's decision days."""
    files = (
        [Path(decisions_dir) / f"{d.isoformat()}.parquet" for d in days] if decisions_dir else []
    )
    parts = [pd.read_parquet(f) for f in files if f.exists()]
    if not parts:
        return pd.DataFrame(columns=["loan_id", "placements", "recalls"])
    frame = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(
        {
            "loan_id": frame["loan_id"],
            "placements": (frame["kind"].astype(str) == "placement").to_numpy(float),
            "recalls": (frame["kind"].astype(str) == "recall").to_numpy(float),
        }
    )


def world_outcomes(
    truth_dir: Path, start: dt.date, end: dt.date, decisions_dir: Path | None = None
) -> WorldOutcomes:
    """Per-loan sums and portfolio totals of one world over (start, end]."""
    days = window_days(start, end)
    folders = [_day_folder(truth_dir, d) for d in days]
    totals = dict.fromkeys(_TOTALS.values(), 0.0)
    parts = []
    for folder in folders:
        parts += [_repayments(folder), _contacts(folder)]
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        for key, column in _TOTALS.items():
            totals[column] += float(summary.get(key, 0) or 0)
    # decisions of S .. E-1 are the ones whose outcomes fall in (S, E]
    parts.append(_decisions(decisions_dir, [start, *days[:-1]]))
    per_loan = pd.concat(parts, ignore_index=True)
    per_loan = per_loan.groupby("loan_id", sort=False).sum(min_count=1).reset_index()
    for column in ("contacts", "complaints", "placements", "recalls", "commissions"):
        per_loan[column] = per_loan[column].fillna(0.0)
    return WorldOutcomes(per_loan, totals)


def log_decisions(decisions_dir: Path, day: dt.date, frames: dict[str, pd.DataFrame]) -> int:
    """Write which loans got which decision on ``day`` (ids and kinds only)."""
    rows = [
        pd.DataFrame({"loan_id": frame["loan_id"].astype(str), "kind": kind})
        for kind, frame in frames.items()
        if kind in DECISION_KINDS and len(frame)
    ]
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"loan_id": [], "kind": []})
    Path(decisions_dir).mkdir(parents=True, exist_ok=True)
    target = Path(decisions_dir) / f"{day.isoformat()}.parquet"
    out.astype({"loan_id": "string", "kind": "string"}).to_parquet(target, index=False)
    return len(out)

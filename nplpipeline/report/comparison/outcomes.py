"""What really happened in one twin world over a window, per loan (from its truth)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd


def world_outcomes(truth_dir: Path, start: dt.date, end: dt.date) -> pd.DataFrame:
    raise NotImplementedError("waiting for the twin's truth layout")

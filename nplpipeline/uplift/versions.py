"""The learned policies kept on disk, one record per version, selected as of a date.

Each training on A keeps ``uplift/models/{version}.joblib`` and beside it
``{version}.json``: the version, its training as-of date A, the MLflow run and the
gate's result. A decision on D reads the latest version trained on or before D --
never "the current one" -- so rerunning D after a later training selects the same
policy and writes the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from nplpipeline.uplift.evaluate import Learned


@dataclass(frozen=True)
class VersionRecord:
    version: str
    trained_as_of: dt.date
    run_id: str
    promoted: bool
    gate: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {"version": self.version, "trained_as_of": self.trained_as_of.isoformat(),
             "run_id": self.run_id, "promoted": self.promoted, "gate": self.gate},
            indent=1,
        )  # fmt: skip


def models_dir(folder: Path) -> Path:
    return folder / "models"


def keep_version(folder: Path, learned: Learned, record: VersionRecord) -> None:
    """Write the fitted policy, then its record (a record always has its model)."""
    out = models_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(learned, out / f"{record.version}.joblib")
    (out / f"{record.version}.json").write_text(record.to_json())


def records(folder: Path) -> list[VersionRecord]:
    """Every kept version's record, oldest training first."""
    out = []
    for path in sorted(models_dir(folder).glob("*.json")):
        raw = json.loads(path.read_text())
        trained = dt.date.fromisoformat(raw["trained_as_of"])
        gate = raw.get("gate", {})
        out.append(VersionRecord(raw["version"], trained, raw["run_id"], raw["promoted"], gate))
    return sorted(out, key=lambda r: (r.trained_as_of, r.version))


def select_as_of(folder: Path, as_of: dt.date, challenger: bool) -> VersionRecord | None:
    """The latest version trained on or before ``as_of`` (``challenger``: whatever its
    gate said -- the nba arm runs it), else the latest of those that passed its gate."""
    known = [r for r in records(folder) if r.trained_as_of <= as_of]
    if not challenger:
        known = [r for r in known if r.promoted]
    return known[-1] if known else None


def gain_passes_before(folder: Path, as_of: dt.date, check: str) -> int:
    """How many of the trainings before ``as_of``, latest first, passed ``check`` in a
    row (only records trained before it: a rerun of ``as_of`` counts the same)."""
    earlier = [r for r in records(folder) if r.trained_as_of < as_of]
    count = 0
    for record in reversed(earlier):  # a handful of weekly records, not accounts
        checks = {c.get("name"): c.get("passed") for c in record.gate.get("checks", [])}
        if not checks.get(check):
            break
        count += 1
    return count


def load_version(folder: Path, record: VersionRecord) -> Learned:
    return joblib.load(models_dir(folder) / f"{record.version}.joblib")

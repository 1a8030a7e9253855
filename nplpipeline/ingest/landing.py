"""Finding drops in the landing zone: ``<landing>/<entity>/<YYYY-MM-DD>/<file>``."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True, slots=True, order=True)
class Drop:
    """One file of one entity's extract for one date."""

    drop_date: dt.date
    entity: str
    path: Path

    @property
    def source_file(self) -> str:
        """The file's name relative to the landing zone: stable across machines."""
        return f"{self.entity}/{self.drop_date.isoformat()}/{self.path.name}"

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def _parse_date(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def list_drops(landing_dir: Path, entity: str, up_to: dt.date | None = None) -> list[Drop]:
    """Every readable drop file of ``entity`` dated on or before ``up_to``, oldest first."""
    entity_dir = landing_dir / entity
    if not entity_dir.is_dir():
        return []
    drops = []
    for date_dir in entity_dir.iterdir():
        drop_date = _parse_date(date_dir.name) if date_dir.is_dir() else None
        if drop_date is None or (up_to is not None and drop_date > up_to):
            continue
        for path in date_dir.iterdir():
            if path.is_file() and path.name.endswith(SUPPORTED_SUFFIXES):
                drops.append(Drop(drop_date, entity, path))
    return sorted(drops)


# A source system marks a day's export as complete once every file of it is written
# (<landing>/_complete/<YYYY-MM-DD>): the ingest waits for that marker, so it never
# loads half a drop, and a day whose marker never comes fails visibly (npl_ingest).
COMPLETE_DIR = "_complete"


def completion_marker(landing_dir: Path, day: dt.date) -> Path:
    return Path(landing_dir) / COMPLETE_DIR / day.isoformat()


def mark_drop_complete(landing_dir: Path, day: dt.date) -> Path:
    """Declare every entity's drop for ``day`` written (an empty day is complete too)."""
    marker = completion_marker(landing_dir, day)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_bytes(b"")  # no content, no timestamp: same inputs, same bytes
    return marker


def drop_is_complete(landing_dir: Path, day: dt.date) -> bool:
    return completion_marker(landing_dir, day).is_file()

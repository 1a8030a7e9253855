"""Every contact on an absolute clock, every rule's day on the debtor's own calendar.

The data contract says a timestamp *without* an offset is on the customer's local clock;
one *with* an offset (or a tz-aware value) is an instant. Both become UTC instants here,
and a rule's "today" / "last 7 days" become UTC intervals per time zone, so a comparison
is the same whatever zone a contact was recorded in. Work is per distinct zone (a few
dozen), never per row.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

UTC_DTYPE = "datetime64[ns, UTC]"
# A clock time followed by an explicit offset: 'Z', '+05:45', '-0330', '+08'.
_OFFSET_AT_END = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def valid_zones(tz: pd.Series) -> pd.Series:
    """Which entries name a real IANA zone (each distinct name checked once)."""
    ok: dict[str, bool] = {}
    for name in tz.dropna().unique():
        try:
            ZoneInfo(str(name))
            ok[name] = True
        except (KeyError, ValueError, OSError):
            ok[name] = False
    return tz.map(ok).fillna(False).astype(bool)


def _localize(naive: pd.Series, zone: pd.Series) -> pd.Series:
    """Naive local wall times -> UTC, zone by zone. An ambiguous hour (DST end) takes the
    earlier instant; a time skipped by DST start moves forward, as a clock would."""
    out = pd.Series(pd.NaT, index=naive.index, dtype=UTC_DTYPE)
    for name in zone.dropna().unique():
        mask = (zone == name).to_numpy()
        part = naive[mask]
        local = part.dt.tz_localize(
            str(name), ambiguous=np.ones(len(part), dtype=bool), nonexistent="shift_forward"
        )
        out[mask] = local.dt.tz_convert("UTC")
    return out


def to_instants(values: pd.Series, zone: pd.Series) -> pd.Series:
    """Timestamps as UTC instants: offset-bearing ones converted, naive ones read on
    ``zone`` (the row's customer's clock). Unreadable values come back as NaT."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(UTC_DTYPE)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _localize(pd.Series(values, dtype="datetime64[ns]"), zone)
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(_OFFSET_AT_END, regex=True).fillna(False).to_numpy()
    out = pd.Series(pd.NaT, index=values.index, dtype=UTC_DTYPE)
    if has_offset.any():
        out[has_offset] = pd.to_datetime(
            text[has_offset], utc=True, format="ISO8601", errors="coerce"
        ).astype(UTC_DTYPE)
    naive = ~has_offset & text.notna().to_numpy()
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = _localize(parsed.astype("datetime64[ns]"), zone[naive])
    return out


def midnight_utc(zone: str, day: date) -> pd.Timestamp:
    """The instant ``day`` begins in ``zone`` (a midnight skipped by DST: the first minute)."""
    local = pd.Series([datetime.combine(day, time())], dtype="datetime64[ns]")
    return local.dt.tz_localize(zone, ambiguous=np.array([True]), nonexistent="shift_forward")[
        0
    ].tz_convert("UTC")


def day_starts(zone: pd.Series, day: date, valid: pd.Series) -> pd.Series:
    """For each row, the UTC instant its zone's ``day`` begins (NaT for invalid zones)."""
    out = pd.Series(pd.NaT, index=zone.index, dtype=UTC_DTYPE)
    for name in zone[valid].unique():
        out[(zone == name).to_numpy() & valid.to_numpy()] = midnight_utc(str(name), day)
    return out


def local_time_utc(zone: pd.Series, day: date, at: time, valid: pd.Series) -> pd.Series:
    """``day`` at local clock time ``at`` as a UTC instant, for dialers that schedule in UTC."""
    out = pd.Series(pd.NaT, index=zone.index, dtype=UTC_DTYPE)
    local = datetime.combine(day, at)
    for name in zone[valid].unique():
        stamp = pd.Timestamp(local).tz_localize(
            str(name), ambiguous=True, nonexistent="shift_forward"
        )
        out[(zone == name).to_numpy() & valid.to_numpy()] = stamp.tz_convert("UTC")
    return out


def shift_days(day: date, days: int) -> date:
    return day - timedelta(days=days)

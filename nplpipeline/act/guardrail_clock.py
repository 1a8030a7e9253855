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
# A clock time followed by an explicit offset: 'Z', '+05:45', '-0330', '+08'. ASCII
# classes and the \Z anchor let Arrow match it in C++ (with \s, \d or $ pandas runs
# Python's ``re`` one row at a time).
_OFFSET_AT_END = (
    r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?[ \t]*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)\Z"
)


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


def zone_codes(zone: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's zone as a code into the distinct zone names (-1: missing), so a loop
    over zones selects its rows by an integer compare."""
    codes, names = pd.factorize(zone, use_na_sentinel=True)
    return np.asarray(codes), pd.Index(names)


def _localize(naive: pd.Series, zone: pd.Series) -> pd.Series:
    """Naive local wall times -> UTC, zone by zone. An ambiguous hour (DST end) takes the
    earlier instant; a time skipped by DST start moves forward, as a clock would."""
    out = pd.Series(pd.NaT, index=naive.index, dtype=UTC_DTYPE)
    codes, names = zone_codes(zone)
    for i, name in enumerate(names):
        mask = codes == i
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


def clock_seconds(values: pd.Series) -> pd.Series:
    """Local clock times ('H:MM', 'HH:MM[:SS[.f]]', ``time`` or timestamps) as seconds
    after midnight, NaN when unreadable -- parsed in C, not one Python call per row."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return (values - values.dt.normalize()).dt.total_seconds()
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^([0-9]):", r"0\1:", regex=True)  # '8:00' -> '08:00'
    at = pd.to_datetime("1970-01-01T" + text, format="ISO8601", errors="coerce")
    secs = (at - pd.Timestamp("1970-01-01")).dt.total_seconds()
    plain = text.str.fullmatch(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?").fillna(False)
    return secs.where(plain.to_numpy(dtype=bool))  # no date, zone or offset sneaks in


def midnight_utc(zone: str, day: date) -> pd.Timestamp:
    """The instant ``day`` begins in ``zone`` (a midnight skipped by DST: the first minute)."""
    local = pd.Series([datetime.combine(day, time())], dtype="datetime64[ns]")
    return local.dt.tz_localize(zone, ambiguous=np.array([True]), nonexistent="shift_forward")[
        0
    ].tz_convert("UTC")


def day_starts(zone: pd.Series, day: date, valid: pd.Series) -> pd.Series:
    """For each row, the UTC instant its zone's ``day`` begins (NaT for invalid zones)."""
    codes, names = zone_codes(zone.where(valid.to_numpy()))
    starts = np.array([midnight_utc(str(n), day).value for n in names] + [0], dtype=np.int64)
    ns = np.where(codes >= 0, starts[codes], np.iinfo(np.int64).min)  # min int is NaT
    return pd.Series(pd.to_datetime(ns, utc=True), index=zone.index).astype(UTC_DTYPE)


def local_time_utc(zone: pd.Series, day: date, at: time, valid: pd.Series) -> pd.Series:
    """``day`` at local clock time ``at`` as a UTC instant, for dialers that schedule in UTC."""
    local = pd.Timestamp(datetime.combine(day, at))
    codes, names = zone_codes(zone.where(valid.to_numpy()))
    stamps = [
        local.tz_localize(str(n), ambiguous=True, nonexistent="shift_forward").value for n in names
    ]
    ns = np.array([*stamps, 0], dtype=np.int64)
    picked = np.where(codes >= 0, ns[codes], np.iinfo(np.int64).min)  # min int is NaT
    return pd.Series(pd.to_datetime(picked, utc=True), index=zone.index).astype(UTC_DTYPE)


def shift_days(day: date, days: int) -> date:
    return day - timedelta(days=days)

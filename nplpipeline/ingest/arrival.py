"""Has the day's drop arrived? What ``npl_ingest`` waits for before loading a day.

A day's drop has arrived when the source system has marked its export for that date
complete (``landing.mark_drop_complete``). Pulling from a source database instead
(``NPL_SOURCE_URL``) has nothing to wait for: the pull itself is the delivery.
"""

from __future__ import annotations

import datetime as dt

from nplpipeline.ingest.landing import completion_marker, drop_is_complete
from nplpipeline.settings import Settings, get_settings


def drop_arrived(as_of: dt.date, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    if settings.source_url:
        return True
    return drop_is_complete(settings.landing_dir, as_of)


def drop_status(as_of: dt.date, settings: Settings | None = None) -> dict[str, object]:
    """What the sensor sees for ``as_of`` (paths, no row values)."""
    settings = settings or get_settings()
    marker = None if settings.source_url else completion_marker(settings.landing_dir, as_of)
    return {
        "as_of": as_of.isoformat(),
        "arrived": drop_arrived(as_of, settings),
        "marker": str(marker) if marker else None,
    }

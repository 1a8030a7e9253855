"""Reading data-quality results back: which checkpoint run is each entity's latest."""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import dq_results


def latest_runs() -> sa.Subquery:
    """``(entity, run_id)`` of each entity's most recently validated checkpoint run."""
    d = dq_results.c
    latest = (
        sa.select(d.entity, sa.func.max(d.validated_at).label("at")).group_by(d.entity).subquery()
    )
    return (
        sa.select(d.entity, d.run_id)
        .join(latest, sa.and_(latest.c.entity == d.entity, latest.c.at == d.validated_at))
        .distinct()
        .subquery()
    )

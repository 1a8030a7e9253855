"""The schema registry: every warehouse table, whichever stage declares it.

It sits above the stages (the warehouse layer below knows none of them), so creating
the whole schema never makes ``warehouse`` import a stage and no import cycle forms.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from nplpipeline.warehouse.tables import ensure_schema as _create_registered
from nplpipeline.warehouse.tables import metadata

# Modules that declare tables beside their stage; importing one registers its tables.
TABLE_MODULES = (
    "nplpipeline.delinquency.tables",
    "nplpipeline.features.tables",
    "nplpipeline.score.tables",
    "nplpipeline.model.tables",
    "nplpipeline.act.tables",
    "nplpipeline.act.placement.tables",
    "nplpipeline.act.delivery.tables",
    "nplpipeline.report.marts.tables",
    "nplpipeline.report.comparison.tables",
    "nplpipeline.report.nba.tables",
    "nplpipeline.uplift.tables",
)


def register_all() -> sa.MetaData:
    """Import every table module so the shared metadata holds the whole schema."""
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return metadata


def ensure_schema(bind: sa.Engine | sa.Connection) -> None:
    """Create every missing table of every stage; never drops or alters."""
    register_all()
    _create_registered(bind)

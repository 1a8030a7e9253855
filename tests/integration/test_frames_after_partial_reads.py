"""The bulk read and write paths work after a Core query that stopped after one row
(``scalar()``, ``first()``), as stages mix both in one transaction."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame

_meta = sa.MetaData()
_numbers = sa.Table(
    "t_numbers", _meta, sa.Column("n", sa.Integer(), primary_key=True, autoincrement=False)
)


def test_read_and_insert_after_scalar_and_first(warehouse_url: str) -> None:
    with transaction(warehouse_url) as conn:
        _meta.create_all(conn)
        insert_frame(conn, _numbers, pd.DataFrame({"n": range(1000)}))
        assert conn.execute(sa.select(sa.func.min(_numbers.c.n))).scalar() == 0
        read = read_frame(conn, sa.select(_numbers.c.n).where(_numbers.c.n < 10))
        assert conn.execute(sa.select(_numbers.c.n).order_by(_numbers.c.n)).first() == (0,)
        written = insert_frame(conn, _numbers, pd.DataFrame({"n": [5000]}))
        count = conn.execute(sa.select(sa.func.count()).select_from(_numbers)).scalar_one()
    assert sorted(read["n"]) == list(range(10))
    assert written == 1 and count == 1001

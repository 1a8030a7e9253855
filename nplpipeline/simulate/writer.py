"""Landing-zone writer: split each entity's rows by extract day into drop folders.

Layout: <landing>/<entity>/<YYYY-MM-DD>/part-<chunk:05d>.<ext>. Rows are sorted by
(drop day, key) with a stable sort, and files carry no wall-clock metadata, so the same
input always gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nplpipeline.contract import ENTITIES

from .config import from_day

_CSV_OPTS = pacsv.WriteOptions(include_header=True, delimiter=",", quoting_style="needed")


def _csv_ready(t: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 with 'T' and no offset (the writer's default uses a space)."""
    cols = []
    for f, col in zip(t.schema, t.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            col = pc.binary_replace_slice(pc.cast(col, pa.string()), 10, 11, "T")
        cols.append(col)
    return pa.Table.from_arrays(cols, names=t.column_names)


def write_entity(
    table: pa.Table, entity: str, chunk: int, landing: Path, fmt: str
) -> tuple[int, set[int]]:
    """Write one chunk of an entity; returns (rows written, drop days touched)."""
    if table.num_rows == 0:
        return 0, set()
    keys = [(c, "ascending") for c in ENTITIES[entity].key]
    table = table.take(pc.sort_indices(table, sort_keys=[("_drop", "ascending"), *keys]))
    drop = table["_drop"].to_numpy()
    table = table.drop_columns(["_drop"])
    if fmt != "parquet":
        table = _csv_ready(table)
    cuts = np.flatnonzero(np.diff(drop)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(drop)]])
    ext = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}[fmt]
    days: set[int] = set()
    for s, e in zip(starts, ends, strict=True):
        day = int(drop[s])
        days.add(day)
        folder = landing / entity / from_day(day).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{chunk:05d}.{ext}"
        part = table.slice(s, e - s)
        if fmt == "parquet":
            pq.write_table(part, path, compression="zstd")
        elif fmt == "csv.gz":
            with pa.CompressedOutputStream(str(path), "gzip") as out:
                pacsv.write_csv(part, out, write_options=_CSV_OPTS)
        else:
            pacsv.write_csv(part, str(path), write_options=_CSV_OPTS)
    return table.num_rows, days

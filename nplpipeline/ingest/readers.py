"""Reading one drop file into an all-text frame, or refusing it with a clear reason.

Everything is read as text first so that a malformed value becomes a row-level finding
(quarantined with its rule) instead of a crash that loses the whole file; typing happens
in :mod:`nplpipeline.validate.coerce`.
"""

from __future__ import annotations

import codecs
import gzip
import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nplpipeline.contract import Entity
from nplpipeline.ingest.landing import Drop


class DropRejectedError(Exception):
    """A drop that cannot be loaded at all; nothing of it is written."""

    def __init__(self, source_file: str, problem: str) -> None:
        super().__init__(f"{source_file}: {problem}")
        self.source_file = source_file
        self.problem = problem


_BOM = b"\xef\xbb\xbf"


def _as_utf8(raw: bytes, encoding: str, drop: Drop) -> bytes:
    """The file's bytes as UTF-8 without BOM, or a rejection naming the bad byte.

    UTF-8 sources are only validated, not transcoded: decoding and re-encoding every
    file would double the read cost of the most common case.
    """
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DropRejectedError(
            drop.source_file,
            f"not valid {encoding} at byte {exc.start}; set the source encoding "
            "(e.g. gb18030 for GBK exports) or fix the file",
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise DropRejectedError(drop.source_file, "file is empty (no header row)")
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return raw.removeprefix(_BOM)
    return text.encode("utf-8")


def _read_csv(drop: Drop, entity: Entity, encoding: str) -> pa.Table:
    raw = drop.path.read_bytes()
    if drop.path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DropRejectedError(drop.source_file, f"not a readable gzip file ({exc})") from None
    data = _as_utf8(raw, encoding, drop)
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=False),
            # Text in, always: inference would turn "+8613800138000" into a number and
            # drop leading zeros of IDs before any rule could see them.
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(entity.columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
        )
    except pa.ArrowInvalid as exc:
        raise DropRejectedError(drop.source_file, f"not a readable CSV ({exc})") from None


def read_drop(drop: Drop, entity: Entity, encoding: str = "utf-8") -> pa.Table:
    """The drop as text columns in contract order plus ``_row_number`` (the data line
    number in the file: the header is line 1; for Parquet, the row's ordinal from 1)."""
    if drop.path.name.endswith(".parquet"):
        try:
            table = pq.read_table(drop.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DropRejectedError(
                drop.source_file, f"not a readable Parquet file ({exc})"
            ) from None
    else:
        table = _read_csv(drop, entity, encoding)
    table = table.rename_columns([c.strip() for c in table.column_names])
    missing = [c for c in entity.required_columns if c not in table.column_names]
    if missing:
        raise DropRejectedError(
            drop.source_file, f"missing required column(s) {', '.join(missing)}"
        )
    n = table.num_rows
    columns = {
        name: table[name].cast(pa.string())
        if name in table.column_names
        else pa.nulls(n, pa.string())
        for name in entity.columns
    }
    offset = 1 if drop.path.name.endswith(".parquet") else 2
    columns["_row_number"] = pa.array(range(offset, offset + n), pa.int64())
    return pa.table(columns)

"""Reading one drop file into an all-text frame, or refusing it with a clear reason.

Everything is read as text first so that a malformed value becomes a row-level finding
(quarantined with its rule) instead of a crash that loses the whole file; typing happens
in :mod:`nplpipeline.validate.coerce`.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nplpipeline.contract import Entity
from nplpipeline.ingest.landing import Drop


class DropRejectedError(Exception):
    """A drop that cannot be loaded at all; nothing of it is written.

    ``problem`` is built here from fixed text, counts, positions and contract column
    names only -- never from a library's message, which may quote the row (pyarrow's
    CSV errors do: a customer's name, national id and phone would reach the task log).
    """

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


def _csv_options(entity: Entity, *, use_threads: bool = True, on_invalid=None) -> dict:
    return {
        "read_options": pacsv.ReadOptions(autogenerate_column_names=False, use_threads=use_threads),
        # Text in, always: inference would turn "+8613800138000" into a number and
        # drop leading zeros of IDs before any rule could see them.
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(entity.columns, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
        "parse_options": pacsv.ParseOptions(
            newlines_in_values=True, invalid_row_handler=on_invalid
        ),
    }


def _csv_problem(data: bytes, entity: Entity) -> str:
    """Where a CSV breaks, in counts only: re-parsed single-threaded (on failure only) so
    pyarrow numbers the row; the row's text is seen here and dropped."""
    found: list[tuple[int | None, int, int]] = []

    def first_invalid(row: pacsv.InvalidRow) -> str:
        found.append((row.number, row.expected_columns, row.actual_columns))
        return "error"

    with contextlib.suppress(pa.ArrowException):
        pacsv.read_csv(
            io.BytesIO(data), **_csv_options(entity, use_threads=False, on_invalid=first_invalid)
        )
    if not found:
        return "not a readable CSV (parse error; row values withheld)"
    number, expected, actual = found[0]
    where = f"line {number}" if number is not None else "a row"
    return (
        f"not a readable CSV: {where} has {actual} field(s), the header has {expected}"
        " (row values withheld)"
    )


def _read_csv(drop: Drop, entity: Entity, encoding: str) -> pa.Table:
    raw = drop.path.read_bytes()
    if drop.path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            problem = f"not a readable gzip file ({type(exc).__name__})"
            raise DropRejectedError(drop.source_file, problem) from None
    data = _as_utf8(raw, encoding, drop)
    try:
        return pacsv.read_csv(io.BytesIO(data), **_csv_options(entity))
    except pa.ArrowException:
        problem = _csv_problem(data, entity)
    raise DropRejectedError(drop.source_file, problem)


def read_drop(drop: Drop, entity: Entity, encoding: str = "utf-8") -> pa.Table:
    """The drop as text columns in contract order plus ``_row_number`` (the data line
    number in the file: the header is line 1; for Parquet, the row's ordinal from 1)."""
    if drop.path.name.endswith(".parquet"):
        try:
            table = pq.read_table(drop.path)
        except (pa.ArrowException, OSError) as exc:
            problem = f"not a readable Parquet file ({type(exc).__name__})"
            raise DropRejectedError(drop.source_file, problem) from None
    else:
        table = _read_csv(drop, entity, encoding)
    try:
        return _as_text_columns(drop, entity, table)
    except pa.ArrowException as exc:  # e.g. a nested Parquet column: no text form
        problem = f"columns cannot be read as text ({type(exc).__name__})"
        raise DropRejectedError(drop.source_file, problem) from None


def _as_text_columns(drop: Drop, entity: Entity, table: pa.Table) -> pa.Table:
    """Contract columns as text, in contract order, plus ``_row_number``."""
    table = table.rename_columns([str(c).strip() for c in table.column_names])
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

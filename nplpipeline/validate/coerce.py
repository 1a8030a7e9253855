"""Typing text columns by the contract, vectorised; a value that will not parse is a finding.

Returns the typed frame and, per column, a mask of rows whose non-empty text did not
parse (rule ``type:<column>``), so bad values are quarantined rather than nulled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from nplpipeline.contract import Entity, FieldType

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


def _clean_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _parse(text: pd.Series, type_: FieldType) -> pd.Series:
    if type_ == "string":
        return text.astype(object).where(text.notna(), None)
    if type_ in ("int", "decimal"):
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        if type_ == "int":
            whole = numbers.notna() & (numbers == np.floor(numbers))
            return numbers.where(whole).astype("Int64")
        return numbers
    if type_ == "bool":
        lowered = text.str.lower()
        out = pd.Series(pd.NA, index=text.index, dtype="boolean")
        out[lowered.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        out[lowered.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        return out
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=False)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    parsed = parsed.astype("datetime64[us]")
    return parsed.dt.normalize() if type_ == "date" else parsed


def _type_column(text: pd.Series, type_: FieldType) -> tuple[pd.Series, np.ndarray]:
    """One column typed, and the mask of its non-empty values that did not parse."""
    text = _clean_text(text)
    try:
        values = _parse(text, type_)
    except (ValueError, OverflowError, TypeError):
        values = _parse_each_safely(text, type_)
    return values, (text.notna() & pd.isna(values)).to_numpy(bool)


def coerce(frame: pd.DataFrame, entity: Entity) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Typed copy of ``frame`` and the ``type:<column>`` failure masks."""
    typed = frame.copy()
    failures: dict[str, np.ndarray] = {}
    for field in entity.fields:
        if field.name not in frame.columns:
            continue
        typed[field.name], failed = _type_column(frame[field.name], field.type)
        if failed.any():
            failures[f"type:{field.name}"] = failed
    return typed, failures


def coerce_table(table: pa.Table, entity: Entity) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """:func:`coerce` straight from the Arrow text table, one column at a time: the text
    of a column is converted, typed and released before the next, so the whole batch is
    never held as pandas text beside its typed copy (same frame, same masks)."""
    fields = {f.name: f for f in entity.fields}
    columns: dict[str, pd.Series] = {}
    failures: dict[str, np.ndarray] = {}
    rest = [c for c in table.column_names if c not in fields]
    others = table.select(rest).to_pandas(date_as_object=False) if rest else None
    for name in table.column_names:
        if name not in fields:
            columns[name] = others[name]
            continue
        text = table.select([name]).to_pandas(date_as_object=False)[name]
        columns[name], failed = _type_column(text, fields[name].type)
        if failed.any():
            failures[f"type:{name}"] = failed
    return pd.DataFrame(columns), failures


def _parse_each_safely(text: pd.Series, type_: FieldType) -> pd.Series:
    """Fallback for mixed date formats pandas refuses as a whole column (rare, small)."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    for idx, value in text.dropna().items():
        try:
            out[idx] = _parse(pd.Series([value]), type_).iloc[0]
        except (ValueError, OverflowError, TypeError):
            out[idx] = pd.NaT
    return out

"""The contract's row rules, as data, checked column-at-a-time.

Each rule has a stable name (``not_null:loan_id``, ``range:amount``, ``orphan:loan_id``
...) that appears in the quarantine table, so a data engineer can grep for it and the
Great Expectations suites can carry the same names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nplpipeline.contract import (
    ACTION_CHANNELS,
    ACTION_OUTCOMES,
    COLLECTOR_ROLES,
    EMPLOYMENT_TYPES,
    ENTITIES,
    LOAN_STATUSES,
    PRODUCTS,
    REPAYMENT_CHANNELS,
    Entity,
)

# (low, high, low_inclusive): None = unbounded
Range = tuple[float | None, float | None, bool]

RANGES: dict[str, dict[str, Range]] = {
    "customers": {"monthly_income": (0, None, True)},
    "loans": {
        "principal_amount": (0, None, False),
        "annual_interest_rate": (0, 0.36, True),
        "term_months": (1, 120, True),
    },
    "installments": {
        "installment_no": (1, None, True),
        "principal_due": (0, None, True),
        "interest_due": (0, None, True),
        "fee_due": (0, None, True),
    },
    "repayments": {"amount": (0, None, False)},
    "collection_actions": {"ptp_amount": (0, None, False)},
    "agencies": {"commission_rate": (0, 1, True), "monthly_capacity": (0, None, True)},
    "collectors": {"daily_capacity": (0, None, True)},
    "satisfaction": {"score": (1, 5, True)},
}

VALUE_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {"employment_type": EMPLOYMENT_TYPES},
    "loans": {"product": PRODUCTS, "status": LOAN_STATUSES},
    "repayments": {"channel": REPAYMENT_CHANNELS},
    "collection_actions": {"channel": ACTION_CHANNELS, "outcome": ACTION_OUTCOMES},
    "collectors": {"role": COLLECTOR_ROLES},
}

# Columns that cannot lie after the end of their drop's extract date.
NOT_FUTURE: dict[str, tuple[str, ...]] = {
    "customers": ("birth_date", "updated_at"),
    "loans": ("origination_date", "updated_at"),
    "repayments": ("paid_at", "updated_at"),
    "collection_actions": ("action_at",),
    "satisfaction": ("surveyed_at",),
}

# child column -> parent entity whose key it must name
REFERENCES: dict[str, dict[str, str]] = {
    "loans": {"customer_id": "customers"},
    "installments": {"loan_id": "loans"},
    "repayments": {"loan_id": "loans"},
    "collection_actions": {"loan_id": "loans"},
    "satisfaction": {"customer_id": "customers"},
}

EARLIEST_BIRTH_DATE = pd.Timestamp("1900-01-01")
# E.164, and for China (+86) the national plan: an 11-digit mobile number 1[3-9]xxxxxxxxx
# or a landline of area code + subscriber number (9-11 digits, not starting with 1).
E164 = re.compile(r"^(?:\+86(?:1[3-9]\d{9}|[2-9]\d{8,10})|\+(?!86)[1-9]\d{6,14})$")


@dataclass
class RuleContext:
    """What rows are checked against besides themselves."""

    drop_dates: pd.Series  # per row: the extract date of its drop
    parent_keys: Mapping[str, pd.Index] = field(default_factory=dict)  # entity -> keys known
    # entity -> keys of its rows held in quarantine: a child of one is not an orphan, it
    # waits for its parent to be fixed, and the rule says so.
    quarantined_parent_keys: Mapping[str, pd.Index] = field(default_factory=dict)
    repayment_ids: pd.Index | None = None  # for reversal_of


def _range_mask(values: pd.Series, bounds: Range) -> np.ndarray:
    low, high, low_inclusive = bounds
    present = values.notna().to_numpy(bool)
    v = values.astype("float64").to_numpy()
    bad = np.zeros(len(values), dtype=bool)
    if low is not None:
        bad |= (v < low) if low_inclusive else (v <= low)
    if high is not None:
        bad |= v > high
    return bad & present


def check_rows(typed: pd.DataFrame, entity: Entity, ctx: RuleContext) -> dict[str, np.ndarray]:
    """Mask per broken rule (True = the row breaks it); type failures are checked elsewhere."""
    name = entity.name
    masks: dict[str, np.ndarray] = {}

    def add(rule: str, mask: np.ndarray | pd.Series) -> None:
        arr = np.asarray(mask, dtype=bool)
        if arr.any():
            masks[rule] = masks.get(rule, np.zeros(len(typed), bool)) | arr

    for f in entity.fields:
        if not f.nullable and f.name in typed:
            add(f"not_null:{f.name}", typed[f.name].isna().to_numpy(bool))
    for col, bounds in RANGES.get(name, {}).items():
        add(f"range:{col}", _range_mask(typed[col], bounds))
    for col, allowed in VALUE_SETS.get(name, {}).items():
        values = typed[col]
        add(f"value_set:{col}", values.notna() & ~values.isin(allowed))
    end_of_drop = pd.to_datetime(ctx.drop_dates).astype("datetime64[us]") + pd.Timedelta(days=1)
    for col in NOT_FUTURE.get(name, ()):
        add(f"not_future:{col}", (typed[col] >= end_of_drop).fillna(False))
    for col, parent in REFERENCES.get(name, {}).items():
        known = ctx.parent_keys.get(parent)
        if known is not None:
            missing = typed[col].notna() & ~typed[col].isin(known)
            held = ctx.quarantined_parent_keys.get(parent)
            if held is not None and len(held):
                waiting = missing & typed[col].isin(held)
                add(f"parent_quarantined:{col}", waiting)
                missing = missing & ~waiting
            add(f"orphan:{col}", missing)
    _entity_specific(typed, name, ctx, add)
    add_duplicate_rules(typed, entity, add)
    return masks


def _entity_specific(typed: pd.DataFrame, name: str, ctx: RuleContext, add) -> None:
    if name == "customers":
        add("plausible:birth_date", (typed["birth_date"] < EARLIEST_BIRTH_DATE).fillna(False))
        phone = typed["phone"]
        add("format:phone", phone.notna() & ~phone.astype("string").str.match(E164.pattern))
    elif name == "collection_actions":
        promise = (typed["outcome"] == "promise_to_pay").fillna(False)
        incomplete = typed["ptp_amount"].isna() | typed["ptp_date"].isna()
        add("ptp_complete", promise & incomplete)
    elif name == "repayments" and ctx.repayment_ids is not None:
        target = typed["reversal_of"]
        add("reversal_target", target.notna() & ~target.isin(ctx.repayment_ids))
    elif name == "satisfaction":
        add("score_or_complaint", typed["score"].isna() & ~typed["complaint"].fillna(False))


def _key_hashes(typed: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row over ``columns``: equal values give equal hashes (NA included)."""
    combined = np.zeros(len(typed), dtype=np.uint64)
    for col in columns:
        h = pd.util.hash_pandas_object(typed[col], index=False, categorize=True).to_numpy()
        combined = (combined * np.uint64(1_000_003)) ^ h
    return combined


def shared_key_rows(typed: pd.DataFrame, scope: list[str]) -> np.ndarray:
    """Positions of rows whose hash over ``scope`` is shared with another row: a
    superset of the rows sharing their ``scope`` values with another (equal values hash
    alike). A hash collision only adds rows, which an exact comparison then clears."""
    hashes = pd.Series(_key_hashes(typed, scope))
    return np.flatnonzero(hashes.duplicated(keep=False).to_numpy(bool))


def _exact_duplicate_masks(
    typed: pd.DataFrame, values: list[str], scope: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(duplicate_row, unique_key) by exact comparison on a (small) frame."""
    exact_repeat = typed.duplicated(subset=values, keep="first").to_numpy(bool)
    distinct = typed[~exact_repeat]
    conflicting_keys = distinct.duplicated(subset=scope, keep=False)
    conflict = np.zeros(len(typed), dtype=bool)
    conflict[np.flatnonzero(~exact_repeat)[conflicting_keys.to_numpy(bool)]] = True
    # an exact repeat of a conflicting row goes with it
    key_conflicted = typed.set_index(scope).index.isin(typed[conflict].set_index(scope).index)
    return exact_repeat & ~key_conflicted, conflict | (exact_repeat & key_conflicted)


def add_duplicate_rules(typed: pd.DataFrame, entity: Entity, add) -> None:
    """Within one file: exact repeats keep their first copy; conflicting repeats all go.

    Hashing the key columns finds the few rows that share a key within a file; the exact
    tuple comparison (``DataFrame.duplicated``) then runs on those rows only, in their
    original order, so the verdicts are those of the whole-frame comparison."""
    scope = [*entity.key, "_source_file"]
    if not set(scope) <= set(typed.columns):
        return
    values = [*entity.columns, "_source_file"]
    rows = shared_key_rows(typed, scope)
    if not len(rows):
        return
    repeat, conflict = _exact_duplicate_masks(typed.iloc[rows], values, scope)
    add("duplicate_row", _at(len(typed), rows[repeat]))
    add("unique_key", _at(len(typed), rows[conflict]))


def _at(n: int, positions: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return mask


# Rules about a row's own values. Only these decide whether a whole file is a broken
# export; relational findings (orphans, duplicates) say nothing about the file's bytes.
INTRINSIC_RULE_PREFIXES = (
    "type:", "not_null:", "range:", "value_set:", "format:", "plausible:", "not_future:",
)  # fmt: skip


def is_intrinsic(rule: str) -> bool:
    return rule.startswith(INTRINSIC_RULE_PREFIXES)


def parents_of(entity_name: str) -> list[str]:
    return sorted(set(REFERENCES.get(entity_name, {}).values()))


def join_rule_names(masks: dict[str, np.ndarray], rows: np.ndarray) -> pd.Series:
    """';'-joined names of the rules each of ``rows`` broke (vectorised per rule)."""
    out = pd.Series([""] * len(rows), dtype=object)
    for rule in sorted(masks):
        hit = masks[rule][rows]
        out = out + np.where(hit, rule + ";", "")
    return out.str.rstrip(";")


ALL_ENTITIES = tuple(ENTITIES)

"""Great Expectations suites (GX Core 1.x), one per entity, derived from the contract.

The suites are the reviewable, documented face of the contract; row quarantine stays with
the vectorised masks of :mod:`nplpipeline.validate.rules`. Nothing here is listed per
entity: every expectation comes from :mod:`nplpipeline.contract` and the rule tables of
``rules.py`` (``RANGES``, ``VALUE_SETS``, ``NOT_FUTURE``, ``REFERENCES`` ...), and carries
``meta={"rule": <rules.py rule name>, "severity": "critical" | "warning"}`` (mirrored in
GX's own ``severity`` field), so a quarantine reason and a failing expectation read the
same.

Severity: ``critical`` = rows that break it are quarantined (the contract is broken);
``warning`` = a batch-level signal that something upstream may be off, nothing is
quarantined for it (row count, share of missing values) -- plus ``duplicate_row``, whose
first copy still loads.

Some checks need values a batch cannot hold on its own; the runner
(:mod:`nplpipeline.validate.gx_runner`) adds them as helper columns before GX sees the
batch:

- ``_drop_end`` (timestamp): end of the row's drop date (drop date + 1 day). The not-future
  rules are ``_drop_end > <column>`` (strict), i.e. bad iff ``value >= end_of_drop`` as in
  ``rules.py``.
- ``_valid__<column>`` (bool): the unmasked value matches its format regex
  (``format:<column>``; GX sees only shape-masked PII, see ``FORMATS``).
- ``_known__<column>`` (bool): the reference in ``<column>`` names a known parent key
  (``orphan:<column>``); ``_known__reversal_of`` for ``reversal_target``;
  ``_ready__<column>`` (bool): the parent is not held in quarantine
  (``parent_quarantined:<column>``). Booleans instead of a value set of a million keys.
- ``_source_file`` (already in the typed frame): duplicates are judged within one file, as
  in ``rules.add_duplicate_rules`` (a later drop legitimately repeats a key: upsert).

The expected row count of a batch is not a constant: the suite file holds suite
parameters ``$PARAMETER: expected_rows_min / expected_rows_max`` that the runner fills in
from the caller's trailing average (or pass concrete bounds to :func:`build_suite`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from nplpipeline.contract import ENTITIES, Entity
from nplpipeline.validate.rules import (
    E164,
    EARLIEST_BIRTH_DATE,
    NOT_FUTURE,
    RANGES,
    REFERENCES,
    VALUE_SETS,
)

SUITE_PREFIX = "npl_"
CRITICAL = "critical"
WARNING = "warning"

DROP_END = "_drop_end"
SOURCE_FILE = "_source_file"
ROW_COUNT_RULE = "row_count"
ROW_COUNT_PARAMS = ("expected_rows_min", "expected_rows_max")

# Nullable columns whose *share* of missing values says something about the extract:
# a few missing incomes are normal (the contract allows it; the simulator has ~5%), half of
# them missing means the source changed. Batch-level warnings (rule ``null_share:<col>``):
# GX's ``mostly`` = minimum share of non-null values.
NULL_SHARE_WARNINGS: dict[str, dict[str, float]] = {
    "customers": {
        "phone": 0.95,  # no phone, no contact strategy
        "birth_date": 0.95,  # age feeds segmentation and vulnerability checks
        "monthly_income": 0.9,  # "may be missing" -- but not for most customers
        "employment_type": 0.9,
    },
    "loans": {"currency": 0.95},  # defaults to CNY when missing; many missing = export bug
    "repayments": {"channel": 0.95},  # channel attribution drives agency commissions
    "collection_actions": {"outcome": 0.95},  # contact history without outcomes is useless
    "satisfaction": {"score": 0.5},  # empty only for complaints without a score
}

# Entity-specific rules of rules._entity_specific, as (rule, entity) -> which expectations.
_PLAUSIBLE_MIN: dict[str, dict[str, Any]] = {
    "customers": {"birth_date": EARLIEST_BIRTH_DATE.to_pydatetime()},
}
# Format rules: column -> regex of rules.py. The runner checks these on the *unmasked*
# values and hands GX only the verdict (``_valid__<col>``): shape masking turns every digit
# into 9, and the +86 numbering plan of ``rules.E164`` cannot be read off "+99 999...".
FORMATS: dict[str, dict[str, str]] = {"customers": {"phone": E164.pattern}}


def suite_name(entity_name: str) -> str:
    return f"{SUITE_PREFIX}{entity_name}"


def known_column(column: str) -> str:
    """Helper column: True when ``column`` names a known parent key (or is empty)."""
    return f"_known__{column}"


def ready_column(column: str) -> str:
    """Helper column: True when ``column``'s parent is not held in quarantine."""
    return f"_ready__{column}"


def valid_column(column: str) -> str:
    """Helper column: True when ``column`` (unmasked) matches its format, or is empty."""
    return f"_valid__{column}"


def format_helpers(entity_name: str) -> dict[str, tuple[str, str, str]]:
    """Rule -> (helper column, source column, regex) for the format rules."""
    return {
        f"format:{col}": (valid_column(col), col, pattern)
        for col, pattern in FORMATS.get(entity_name, {}).items()
    }


def reference_helpers(entity_name: str) -> dict[str, tuple[str, str]]:
    """Rule -> (helper column, source column) for the checks the caller feeds ``known``.

    The caller's ``known[rule]`` is a boolean array (True = fine); the runner treats a
    row whose source column is empty as fine, as ``rules.py`` does.
    """
    out: dict[str, tuple[str, str]] = {}
    for col in REFERENCES.get(entity_name, {}):
        out[f"orphan:{col}"] = (known_column(col), col)
        out[f"parent_quarantined:{col}"] = (ready_column(col), col)
    if entity_name == "repayments":
        out["reversal_target"] = (known_column("reversal_of"), "reversal_of")
    return out


_REFERENCE_TEXT = {
    "orphan": "{col} names a known parent (loaded, or held in quarantine)",
    "parent_quarantined": "{col} does not name a parent held in quarantine",
    "reversal_target": "{col} names a known repayment",
}


def _meta(rule: str, severity: str) -> dict[str, Any]:
    return {"meta": {"rule": rule, "severity": severity}, "severity": severity}


def _exp(cls: type[gxe.Expectation], rule: str, severity: str = CRITICAL, **kwargs: Any):
    return cls(**kwargs, **_meta(rule, severity))


def build_suite(
    entity_name: str, expected_rows: tuple[int, int] | None = None
) -> gx.ExpectationSuite:
    """The entity's suite ``npl_<entity>``, from the contract and the rule tables."""
    entity = ENTITIES[entity_name]
    name = entity.name
    ex: list[gxe.Expectation] = []

    # -- shape: a missing required column rejects the whole drop in the reader
    for col in entity.required_columns:
        ex.append(_exp(gxe.ExpectColumnToExist, f"required:{col}", column=col))

    # -- row rules, in the order rules.check_rows applies them
    for f in entity.fields:
        if not f.nullable:
            ex.append(_exp(gxe.ExpectColumnValuesToNotBeNull, f"not_null:{f.name}", column=f.name))
    for col, (low, high, low_inclusive) in RANGES.get(name, {}).items():
        ex.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=col,
                min_value=low,
                max_value=high,
                strict_min=not low_inclusive,
                strict_max=False,
                **_meta(f"range:{col}", CRITICAL),
            )
        )
    for col, allowed in VALUE_SETS.get(name, {}).items():
        ex.append(
            _exp(
                gxe.ExpectColumnValuesToBeInSet,
                f"value_set:{col}",
                column=col,
                value_set=list(allowed),
            )
        )
    for col in NOT_FUTURE.get(name, ()):
        # bad iff value >= end of the drop's extract date: _drop_end > value must hold
        ex.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=DROP_END,
                column_B=col,
                or_equal=False,
                ignore_row_if="either_value_is_missing",
                description=f"{col} lies before the end of its drop's extract date ({DROP_END})",
                **_meta(f"not_future:{col}", CRITICAL),
            )
        )
    for rule, (helper, source) in reference_helpers(name).items():
        ex.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=helper,
                value_set=[True],
                description=_REFERENCE_TEXT[rule.split(":")[0]].format(col=source),
                meta={"rule": rule, "severity": CRITICAL, "column": source},
                severity=CRITICAL,
            )
        )
    ex.extend(_entity_specific(entity))
    ex.extend(_duplicates(entity))

    # -- batch-level warnings
    low, high = (
        expected_rows
        if expected_rows is not None
        else ({"$PARAMETER": ROW_COUNT_PARAMS[0]}, {"$PARAMETER": ROW_COUNT_PARAMS[1]})
    )
    ex.append(
        _exp(
            gxe.ExpectTableRowCountToBeBetween,
            ROW_COUNT_RULE,
            WARNING,
            min_value=low,
            max_value=high,
        )
    )
    for col, mostly in NULL_SHARE_WARNINGS.get(name, {}).items():
        ex.append(
            _exp(
                gxe.ExpectColumnValuesToNotBeNull,
                f"null_share:{col}",
                WARNING,
                column=col,
                mostly=mostly,
            )
        )

    return gx.ExpectationSuite(
        name=suite_name(name),
        expectations=ex,
        meta={
            "entity": name,
            "key": list(entity.key),
            "generated_by": "nplpipeline.validate.suites.build_suite",
            "great_expectations_version": gx.__version__,
        },
        notes=(
            f"Contract checks for `{name}` (nplpipeline/contract.py, validate/rules.py). "
            "Each expectation's meta.rule is the quarantine rule name. Generated: edit the "
            "contract or the rule tables and re-export, do not edit this file by hand."
        ),
    )


def _entity_specific(entity: Entity) -> list[gxe.Expectation]:
    """rules._entity_specific as expectations (the tables above name their columns)."""
    name = entity.name
    ex: list[gxe.Expectation] = []
    for col, earliest in _PLAUSIBLE_MIN.get(name, {}).items():
        ex.append(
            _exp(
                gxe.ExpectColumnValuesToBeBetween,
                f"plausible:{col}",
                column=col,
                min_value=earliest,
            )
        )
    for rule, (helper, col, pattern) in format_helpers(name).items():
        ex.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=helper,
                value_set=[True],
                description=f"{col} matches {pattern} (checked before PII masking)",
                meta={"rule": rule, "severity": CRITICAL, "column": col, "regex": pattern},
                severity=CRITICAL,
            )
        )
    if name == "collection_actions":
        promise = Column("outcome") == "promise_to_pay"
        for col in ("ptp_amount", "ptp_date"):
            ex.append(
                _exp(
                    gxe.ExpectColumnValuesToNotBeNull,
                    "ptp_complete",
                    column=col,
                    row_condition=promise,
                )
            )
    if name == "satisfaction":
        # a survey without a score must be a complaint (a missing flag is no complaint)
        not_complaint = (Column("complaint") == False) | Column("complaint").is_null()  # noqa: E712
        ex.append(
            _exp(
                gxe.ExpectColumnValuesToNotBeNull,
                "score_or_complaint",
                column="score",
                row_condition=not_complaint,
            )
        )
    return ex


def _duplicates(entity: Entity) -> list[gxe.Expectation]:
    """rules.add_duplicate_rules: within one file (key + ``_source_file``).

    GX counts every member of a duplicated group, where the quarantine keeps the first copy
    of an exact repeat: an exact repeat shows as 2 unexpected rows in ``duplicate_row`` and
    in ``unique_key``; a conflicting pair as 2 in ``unique_key`` (as in the quarantine).
    """
    scope = [*entity.key, SOURCE_FILE]
    return [
        _exp(gxe.ExpectCompoundColumnsToBeUnique, "unique_key", column_list=scope),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*entity.columns, SOURCE_FILE], **_meta("duplicate_row", WARNING)
        ),
    ]


# -- files ------------------------------------------------------------------------------


def suite_to_dict(suite: gx.ExpectationSuite) -> dict[str, Any]:
    """The suite as plain JSON data, without store ids (they differ per GX context)."""
    data = suite.to_json_dict()
    data.pop("id", None)
    for exp in data.get("expectations", []):
        exp.pop("id", None)
        exp.pop("rendered_content", None)
    return data


def suite_json(suite: gx.ExpectationSuite) -> str:
    """Stable text: sorted keys, indent 2, trailing newline -- diffs stay reviewable."""
    return json.dumps(suite_to_dict(suite), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def suite_path(folder: Path, entity_name: str) -> Path:
    return Path(folder) / f"{entity_name}.json"


def export_suites(folder: Path) -> list[Path]:
    """Write ``<folder>/<entity>.json`` for every entity; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for entity_name in ENTITIES:
        path = suite_path(folder, entity_name)
        path.write_text(suite_json(build_suite(entity_name)), encoding="utf-8")
        paths.append(path)
    return paths


def load_suite(folder: Path, entity_name: str) -> gx.ExpectationSuite:
    """The suite of ``<folder>/<entity>.json`` (the repo file is the source of truth)."""
    path = suite_path(folder, entity_name)
    data = json.loads(path.read_text(encoding="utf-8"))
    expectations = data.get("expectations", [])
    suite = gx.ExpectationSuite(
        name=data["name"],
        expectations=expectations,
        suite_parameters=data.get("suite_parameters") or {},
        meta=data.get("meta"),
        notes=data.get("notes"),
    )
    # GX logs and *drops* an expectation whose configuration it cannot parse; a suite
    # quietly missing checks is worse than no run.
    if len(suite.expectations) != len(expectations):
        raise ValueError(
            f"{path}: {len(expectations) - len(suite.expectations)} expectation(s) "
            "could not be read by Great Expectations"
        )
    return suite


if __name__ == "__main__":  # python -m nplpipeline.validate.suites [folder]
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("expectations")
    for p in export_suites(target):
        print(p)

"""Great Expectations suites: generated from the contract, run on masked data, and in
agreement with the row rules of ``rules.py`` (same names, same rows)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nplpipeline.contract import ENTITIES
from nplpipeline.privacy import mask_shape
from nplpipeline.validate import rules
from nplpipeline.validate.coerce import coerce
from nplpipeline.validate.gx_runner import (
    SuiteRun,
    data_docs_index,
    gx_frame,
    known_from_context,
    run_suite,
)
from nplpipeline.validate.rules import (
    NOT_FUTURE,
    RANGES,
    REFERENCES,
    VALUE_SETS,
    RuleContext,
    check_rows,
)
from nplpipeline.validate.suites import (
    build_suite,
    export_suites,
    load_suite,
    suite_json,
    suite_to_dict,
)

ROOT = Path(__file__).resolve().parents[2]
SUITES_DIR = ROOT / "expectations"
DROP = pd.Timestamp("2026-03-01")
END_OF_DROP = DROP + pd.Timedelta(days=1)

# One clean row per entity, as text (what a drop holds); ``{i}`` makes keys unique.
# Values sit on the edges the rules allow (inclusive bounds, last second of the drop date).
CLEAN: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "C{i:03d}", "full_name": "张伟{i}", "national_id": "1101011990030{i:03d}1X",
        "phone": "+86138001{i:05d}", "birth_date": "1900-01-01", "province": "广东",
        "city": "深圳", "timezone": "Asia/Shanghai", "monthly_income": "0",
        "employment_type": "salaried", "do_not_contact": "false", "deceased": "false",
        "bankruptcy": "false", "dispute_open": "false", "vulnerable": "false",
        "updated_at": "2026-03-01T23:59:59",
    },
    "loans": {
        "loan_id": "L{i:03d}", "customer_id": "C900", "product": "cash_loan",
        "origination_date": "2026-03-01", "principal_amount": "0.01",
        "annual_interest_rate": "0.36", "term_months": "120", "currency": "CNY",
        "status": "active", "updated_at": "2026-03-01T12:00:00",
    },
    "installments": {
        "loan_id": "L900", "installment_no": "{n}", "due_date": "2026-04-01",
        "principal_due": "0", "interest_due": "0", "fee_due": "0",
    },
    "repayments": {
        "repayment_id": "R{i:03d}", "loan_id": "L900", "paid_at": "2026-03-01T10:00:00",
        "amount": "0.01", "reversal_of": "", "channel": "app", "agency_id": "",
        "collector_id": "", "updated_at": "2026-03-01T10:00:00",
    },
    "collection_actions": {
        "action_id": "A{i:03d}", "loan_id": "L900", "customer_id": "C900",
        "action_at": "2026-03-01T23:59:59", "channel": "call", "performed_by": "K01",
        "outcome": "promise_to_pay", "ptp_amount": "100.00", "ptp_date": "2026-03-10",
        "recorded": "true", "offer": "",
    },
    "agencies": {
        "agency_id": "G{i:03d}", "name": "催收{i}", "commission_rate": "1",
        "monthly_capacity": "0", "provinces": "", "active": "true",
    },
    "collectors": {
        "collector_id": "K{i:03d}", "team": "north", "role": "call",
        "daily_capacity": "0", "active": "true",
    },
    "satisfaction": {
        "survey_id": "S{i:03d}", "customer_id": "C900", "surveyed_at": "2026-03-01T08:00:00",
        "score": "5", "complaint": "false",
    },
}  # fmt: skip

# A second valid value, for two rows with one key that disagree.
CONFLICT: dict[str, dict[str, str]] = {
    "customers": {"province": "浙江"},
    "loans": {"principal_amount": "2.00"},
    "installments": {"fee_due": "1"},
    "repayments": {"amount": "9.99"},
    "collection_actions": {"performed_by": "K02"},
    "agencies": {"monthly_capacity": "5"},
    "collectors": {"team": "south"},
    "satisfaction": {"score": "4"},
}

# Clean variants the rules must accept too.
CLEAN_VARIANTS: dict[str, list[dict[str, str]]] = {
    "repayments": [{"reversal_of": "R000"}],  # reverses a repayment in this batch
    "collection_actions": [{"outcome": "no_answer", "ptp_amount": "", "ptp_date": ""}],
    "satisfaction": [{"score": "", "complaint": "true"}],  # complaint without a score
}

KNOWN_CUSTOMERS = pd.Index(["C900"])
KNOWN_LOANS = pd.Index(["L900"])
HELD = "X_HELD"  # a parent key held in quarantine

# The rules.py rules written out as literals (the others come from its tables).
LITERAL_RULES = set(
    re.findall(r"""add\(\s*"([^"{}]+)\"""", Path(rules.__file__).read_text(encoding="utf-8"))
)


def _bad_value(entity_name: str, col: str, kind: str) -> str:
    type_ = ENTITIES[entity_name].field(col).type
    if kind == "future":  # exactly the end of the drop date: already the future
        return END_OF_DROP.strftime("%Y-%m-%d" if type_ == "date" else "%Y-%m-%dT%H:%M:%S")
    low, high, inclusive = RANGES[entity_name][col]
    bad = (low - 1 if inclusive else low) if low is not None else high + 1
    return str(int(bad)) if type_ == "int" else str(bad)


def violations(entity_name: str) -> dict[str, list[dict[str, str]]]:
    """rule -> rows (as overrides of a clean row) that break it and nothing else."""
    entity = ENTITIES[entity_name]
    out: dict[str, list[dict[str, str]]] = {}
    for f in entity.fields:
        if not f.nullable:
            out[f"not_null:{f.name}"] = [{f.name: ""}]
    for col in RANGES.get(entity_name, {}):
        out[f"range:{col}"] = [{col: _bad_value(entity_name, col, "range")}]
    for col in VALUE_SETS.get(entity_name, {}):
        out[f"value_set:{col}"] = [{col: "not_in_contract"}]
    for col in NOT_FUTURE.get(entity_name, ()):
        out[f"not_future:{col}"] = [{col: _bad_value(entity_name, col, "future")}]
    for col in REFERENCES.get(entity_name, {}):
        out[f"orphan:{col}"] = [{col: "X_UNKNOWN"}]
        out[f"parent_quarantined:{col}"] = [{col: HELD}]
    specific = {
        "customers": {
            "plausible:birth_date": [{"birth_date": "1899-12-31"}],
            "format:phone": [{"phone": "+86 138-0013-8000"}],
        },
        "repayments": {"reversal_target": [{"reversal_of": "R_NOT_THERE"}]},
        "collection_actions": {"ptp_complete": [{"ptp_date": ""}]},
        "satisfaction": {"score_or_complaint": [{"score": "", "complaint": "false"}]},
    }
    out.update(specific.get(entity_name, {}))
    # a conflicting pair (same key, another valid value) and an exact repeat
    out["unique_key"] = [{"_key_of": "pair"}, {"_key_of": "pair", **CONFLICT[entity_name]}]
    out["duplicate_row"] = [{"_copy_of": "twin"}, {"_copy_of": "twin"}]
    return out


def _frame(entity_name: str, overrides: list[dict[str, str]]) -> pd.DataFrame:
    """Typed frame (as after ``coerce``) of clean rows with ``overrides`` applied."""
    entity = ENTITIES[entity_name]
    rows, firsts = [], {}
    for i, change in enumerate(overrides):
        row = {k: v.format(i=i, n=i + 1) for k, v in CLEAN[entity_name].items()}
        if tag := change.get("_key_of"):  # rows of one tag share the first one's key
            row.update({k: firsts.setdefault(tag, row)[k] for k in entity.key})
        if tag := change.get("_copy_of"):  # ... or all of its values
            row = dict(firsts.setdefault(tag, row))
        for col, value in change.items():
            if not col.startswith("_"):
                row[col] = value
        rows.append(row)
    raw = pd.DataFrame(rows, columns=entity.columns)
    raw["_row_number"] = np.arange(2, len(raw) + 2)
    raw["_source_file"] = f"{entity_name}/2026-03-01/drop.csv"
    raw["_drop_date"] = DROP
    typed, type_failures = coerce(raw, entity)
    assert not type_failures, f"test data does not parse: {sorted(type_failures)}"
    return typed


def _context(entity_name: str, typed: pd.DataFrame) -> RuleContext:
    parents = {"customers": KNOWN_CUSTOMERS, "loans": KNOWN_LOANS}
    held = pd.Index([HELD])
    parent_names = rules.parents_of(entity_name)
    ids = None
    if entity_name == "repayments":
        ids = pd.Index(typed["repayment_id"].dropna().unique())
    return RuleContext(
        drop_dates=typed["_drop_date"],
        parent_keys={p: parents[p] for p in parent_names},
        quarantined_parent_keys={p: held for p in parent_names},
        repayment_ids=ids,
    )


def _run(entity_name: str, typed: pd.DataFrame, gx_dir: Path, **kw) -> SuiteRun:
    ctx = _context(entity_name, typed)
    return run_suite(
        entity_name,
        typed,
        drop_dates=typed["_drop_date"],
        known=known_from_context(entity_name, typed, ctx),
        suites_dir=SUITES_DIR,
        gx_dir=gx_dir,
        run_name=kw.pop("run_name", f"test-{entity_name}"),
        **kw,
    )


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gx")


def _clean_overrides(entity_name: str) -> list[dict[str, str]]:
    return [{}, {}, {}, *CLEAN_VARIANTS.get(entity_name, [])]


@pytest.fixture(scope="module")
def broken_runs(gx_dir) -> dict[str, tuple[pd.DataFrame, dict[str, np.ndarray], SuiteRun]]:
    """Per entity: clean rows plus one row (pair, for duplicates) per rule, checked both ways."""
    out = {}
    for name in ENTITIES:
        cases = violations(name)
        typed = _frame(name, [*_clean_overrides(name), *(r for rs in cases.values() for r in rs)])
        masks = check_rows(typed, ENTITIES[name], _context(name, typed))
        out[name] = (typed, masks, _run(name, typed, gx_dir, run_name=f"broken-{name}"))
    return out


# -- the suite files --------------------------------------------------------------------


@pytest.mark.parametrize("entity_name", list(ENTITIES))
def test_suite_files_match_the_contract(entity_name):
    path = SUITES_DIR / f"{entity_name}.json"
    assert path.is_file(), "run: python -m nplpipeline.validate.suites expectations"
    assert path.read_text(encoding="utf-8") == suite_json(build_suite(entity_name)), (
        f"{path.name} drifted from the contract: re-export with "
        "`python -m nplpipeline.validate.suites expectations`"
    )
    loaded = load_suite(SUITES_DIR, entity_name)
    assert suite_to_dict(loaded) == suite_to_dict(build_suite(entity_name))
    assert loaded.name == f"npl_{entity_name}"


def test_export_writes_one_file_per_entity(tmp_path):
    paths = export_suites(tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{e}.json" for e in ENTITIES)
    assert json.loads(paths[0].read_text())["name"] == f"npl_{paths[0].stem}"


def test_every_expectation_names_a_rule_and_a_severity():
    for name in ENTITIES:
        for exp in suite_to_dict(build_suite(name))["expectations"]:
            assert exp["meta"]["rule"], exp
            assert exp["meta"]["severity"] in ("critical", "warning")
            assert exp["severity"] == exp["meta"]["severity"]


def test_every_row_rule_of_rules_py_is_in_a_suite(broken_runs):
    in_suites = {
        name: {e["meta"]["rule"] for e in suite_to_dict(build_suite(name))["expectations"]}
        for name in ENTITIES
    }
    assert {"plausible:birth_date", "format:phone", "ptp_complete", "reversal_target",
            "score_or_complaint", "unique_key", "duplicate_row"} <= LITERAL_RULES  # fmt: skip
    everywhere = set().union(*in_suites.values())
    assert everywhere >= LITERAL_RULES, LITERAL_RULES - everywhere
    hit = set()
    for name, (_typed, masks, _run) in broken_runs.items():
        assert set(masks) <= in_suites[name], set(masks) - in_suites[name]
        expected = set(violations(name))
        assert set(masks) == expected, "test rows must break exactly the rules they name"
        hit |= set(masks)
    assert hit >= LITERAL_RULES  # the table-derived ones are covered per entity above


# -- running on data --------------------------------------------------------------------


@pytest.mark.parametrize("entity_name", list(ENTITIES))
def test_each_broken_rule_fails_its_expectation_on_the_same_rows(entity_name, broken_runs):
    _typed, masks, run = broken_runs[entity_name]
    failing: dict[str, list] = {}
    for o in run.outcomes:
        if not o.success:
            failing.setdefault(o.rule, []).append(o)
    for rule, mask in masks.items():
        counts = sorted(o.unexpected_count for o in failing.get(rule, []))
        if rule == "unique_key":
            # the conflicting pair (quarantined whole) + both copies of the exact repeat
            assert mask.sum() == 2 and counts == [4], (rule, counts)
        elif rule == "duplicate_row":
            # the quarantine keeps the first copy; GX counts both members of the pair
            assert mask.sum() == 1 and counts == [2], (rule, counts)
        else:
            assert mask.sum() == 1, rule
            assert counts == [1], (rule, counts)
    # and GX finds nothing the row rules do not (warnings aside)
    critical = {o.rule for o in run.outcomes if not o.success and o.severity == "critical"}
    assert critical <= set(masks), critical - set(masks)
    assert run.critical_failures == sum(len(v) for r, v in failing.items() if r in critical)
    assert not run.success


@pytest.mark.parametrize("entity_name", list(ENTITIES))
def test_a_clean_batch_passes(entity_name, gx_dir):
    typed = _frame(entity_name, _clean_overrides(entity_name))
    assert not check_rows(typed, ENTITIES[entity_name], _context(entity_name, typed))
    run = _run(entity_name, typed, gx_dir, run_name=f"clean-{entity_name}")
    assert [o for o in run.outcomes if not o.success] == []
    assert run.success and run.critical_failures == 0 and run.warnings == 0
    assert len(run.outcomes) == len(build_suite(entity_name).expectations)
    assert {o.severity for o in run.outcomes} <= {"critical", "warning"}


@pytest.mark.parametrize(
    ("birth_dates", "unit"),
    [(["1850-06-01"], "ns"), (["0201-05-01", "9999-12-31"], "us")],
    ids=["before-1900", "outside-the-ns-range"],
)
def test_birth_dates_get_the_row_rules_verdicts_whatever_dtype_gx_sees(birth_dates, unit, gx_dir):
    """gx_frame gives GX nanosecond datetimes (its vectorised between) when they fit; a
    column with a value outside 1677..2262 keeps microseconds (GX's per-row path), and
    both count the same rows as rules.py."""
    overrides = [*_clean_overrides("customers"), *({"birth_date": d} for d in birth_dates)]
    typed = _frame("customers", overrides)
    ctx = _context("customers", typed)
    masks = check_rows(typed, ENTITIES["customers"], ctx)
    known = known_from_context("customers", typed, ctx)
    frame = gx_frame("customers", typed, typed["_drop_date"], known)
    assert frame["birth_date"].dtype == f"datetime64[{unit}]"
    assert frame["updated_at"].dtype == frame["_drop_end"].dtype == "datetime64[ns]"
    assert frame["customer_id"].dtype == "str" and frame["full_name"].dtype == "str"
    run = _run("customers", typed, gx_dir, run_name=f"birth-dates-{unit}")
    assert not any(o.success is None for o in run.outcomes)
    for rule in ("plausible:birth_date", "not_future:birth_date"):
        (outcome,) = [o for o in run.outcomes if o.rule == rule]
        expected = int(masks[rule].sum()) if rule in masks else 0
        assert outcome.unexpected_count == expected, rule
        assert outcome.success == (expected == 0), rule
    assert masks["plausible:birth_date"].sum() == 1
    failed = {o.rule for o in run.outcomes if not o.success}
    assert failed == set(masks)


def test_row_count_outside_the_expected_range_is_a_warning(gx_dir):
    typed = _frame("repayments", _clean_overrides("repayments"))
    run = _run("repayments", typed, gx_dir, expected_rows=(100, 200), run_name="row-count")
    (row_count,) = [o for o in run.outcomes if o.rule == "row_count"]
    assert not row_count.success and row_count.severity == "warning"
    assert row_count.element_count == len(typed)
    assert run.warnings == 1 and run.critical_failures == 0 and not run.success
    orphan = next(o for o in run.outcomes if o.rule == "orphan:loan_id")
    assert orphan.column == "loan_id"  # the checked column, not the helper
    inside = _run("repayments", typed, gx_dir, expected_rows=(1, 10), run_name="row-count-ok")
    assert inside.success


def test_reference_lookups_are_required(gx_dir):
    typed = _frame("repayments", [*_clean_overrides("repayments"), {"loan_id": "X_UNKNOWN"}])
    with pytest.raises(ValueError, match="orphan:loan_id"):
        run_suite(
            "repayments", typed, drop_dates=typed["_drop_date"], known={},
            suites_dir=SUITES_DIR, gx_dir=gx_dir, run_name="no-lookups",
        )  # fmt: skip
    with pytest.raises(ValueError, match="known"):
        run_suite(
            "repayments", typed, drop_dates=typed["_drop_date"],
            known={
                "orphan:loan_id": np.ones(len(typed) + 1, bool),
                "parent_quarantined:loan_id": np.ones(len(typed), bool),
                "reversal_target": np.ones(len(typed), bool),
            },
            suites_dir=SUITES_DIR, gx_dir=gx_dir, run_name="bad-lookups",
        )  # fmt: skip


# -- Data Docs ----------------------------------------------------------------------------


def test_data_docs_are_built_and_hold_no_pii(broken_runs, gx_dir):
    index = data_docs_index(gx_dir)
    assert index is not None and index.name == "index.html"
    run = broken_runs["customers"][2]
    assert run.data_docs_index == index.as_uri()
    docs = index.parent
    pages = list(docs.rglob("*.html"))
    assert any("npl_customers" in p.read_text(encoding="utf-8") for p in pages)

    typed = broken_runs["customers"][0]
    pii = {
        str(v)
        for col in ENTITIES["customers"].pii_columns
        for v in typed[col].dropna()
        if len(str(v)) >= 2
    }
    assert "+86 138-0013-8000" in pii and any("张伟" in v for v in pii)
    forms = pii | {json.dumps(v)[1:-1] for v in pii}  # also as JSON \\u escapes
    # everything GX wrote: Data Docs pages and the stored validation results
    text = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in gx_dir.rglob("*")
        if p.is_file() and p.suffix in (".html", ".json", ".yml", ".js")
    )
    leaked = sorted(v for v in forms if v in text)
    assert leaked == [], f"PII in GX output: {len(leaked)} value(s)"
    # the docs do show sample unexpected values (so the check above could fail): plain
    # ones, and PII masked to its shape (the duplicated rows list every column)
    assert "not_in_contract" in text
    masked_phones = set(mask_shape(typed["phone"].dropna()))
    assert any(m in text for m in masked_phones)

"""Tests of the portfolio simulator (nplpipeline.simulate)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from nplpipeline.contract import ENTITIES
from nplpipeline.simulate import SimulationConfig, SimulationSummary, simulate_portfolio
from nplpipeline.simulate.borrowers import national_id_valid
from nplpipeline.simulate.dirty import KIND_NAMES

END = dt.date(2026, 10, 31)
SMALL = SimulationConfig(n_loans=3000, seed=7, chunk_loans=1500, dirty_share=0.01)


def _run(tmp: Path, config: SimulationConfig) -> tuple[Path, Path, SimulationSummary]:
    landing, truth = tmp / "landing", tmp / "truth"
    return landing, truth, simulate_portfolio(config, landing, truth)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


_CACHE: dict[tuple[Path, str], pd.DataFrame] = {}


def load(landing: Path, entity: str) -> pd.DataFrame:
    """All drops of an entity (cached per run; callers must not mutate), plus `_drop`."""
    if (landing, entity) not in _CACHE:
        _CACHE[(landing, entity)] = _load(landing, entity)
    return _CACHE[(landing, entity)]


def _load(landing: Path, entity: str) -> pd.DataFrame:
    as_type = {
        "string": pa.string(),
        "timestamp": pa.string(),
        "date": pa.string(),
        "int": pa.int64(),
        "decimal": pa.float64(),
        "bool": pa.bool_(),
    }
    types = {f.name: as_type[f.type] for f in ENTITIES[entity].fields}
    opts = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    tables = []
    for path in sorted((landing / entity).glob("*/*.csv")):
        t = pacsv.read_csv(path, convert_options=opts)
        tables.append(
            t.append_column("_drop", pa.array([path.parent.name] * t.num_rows, pa.string()))
        )
    return pa.concat_tables(tables).to_pandas()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    return _run(tmp_path_factory.mktemp("sim"), SMALL)


@pytest.fixture(scope="module")
def dirty(run) -> pd.DataFrame:
    return pd.read_parquet(run[1] / "dirty_rows.parquet")


def _keys(df: pd.DataFrame, entity: str) -> pd.Series:
    keys = ENTITIES[entity].key
    return (
        df[list(keys)].astype(str).agg("|".join, axis=1)
        if len(keys) > 1
        else df[keys[0]].astype(str)
    )


def _clean(df: pd.DataFrame, dirty: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Drop injected rows. A duplicate key's clean original is written before its copy."""
    d = dirty[dirty.entity == entity]
    k = _keys(df, entity)
    bad = k.isin(set(d.loc[d.kind != "duplicate_key", "key"]))
    dup = k.isin(set(d.loc[d.kind == "duplicate_key", "key"])) & k.duplicated(keep="first")
    return df[~bad & ~dup]


def test_same_seed_identical_bytes_and_different_seed_differs(tmp_path: Path) -> None:
    cfg = SimulationConfig(n_loans=1500, seed=11, chunk_loans=800)
    a = _run(tmp_path / "a", cfg)
    b = _run(tmp_path / "b", cfg)
    c = _run(tmp_path / "c", dataclasses.replace(cfg, seed=12))
    ha, hb, hc = _hashes(a[0]), _hashes(b[0]), _hashes(c[0])
    assert ha and ha == hb
    ta, tb = _hashes(a[1]), _hashes(b[1])
    assert ta.pop("manifest.json") and tb.pop("manifest.json")  # it records the output dirs
    assert ta == tb
    ma, mb = (json.loads((r[1] / "manifest.json").read_text(encoding="utf-8")) for r in (a, b))
    for m in (ma, mb):
        del m["summary"]["landing_dir"], m["summary"]["truth_dir"]
    assert ma == mb
    # every exported day is marked complete (empty markers, the same for any seed)
    markers = {k for k in ha if k.startswith("_complete/")}
    assert len(markers) == cfg.history_days + 1
    common = (set(ha) & set(hc)) - markers
    assert sum(ha[k] != hc[k] for k in common) > 0.9 * len(common)


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_other_formats_are_deterministic_and_readable(tmp_path: Path, fmt: str) -> None:
    cfg = SimulationConfig(n_loans=600, seed=3, history_days=240, file_format=fmt)
    a, _, summary = _run(tmp_path / "a", cfg)
    b, _, _ = _run(tmp_path / "b", cfg)
    assert _hashes(a) == _hashes(b)
    files = sorted((a / "loans").glob(f"*/*.{fmt}"))
    assert files
    if fmt == "parquet":
        t = pa.concat_tables([pq.read_table(f) for f in files])
    else:
        t = pa.concat_tables([pacsv.read_csv(f) for f in files])
    assert t.column_names == ENTITIES["loans"].columns
    assert t.num_rows == summary.rows_written["loans"]


def test_layout_and_column_order(run) -> None:
    landing, _, summary = run
    pattern = re.compile(r"^(\w+)/(\d{4}-\d{2}-\d{2})/part-\d{5}\.csv$")
    days = set()
    for p in landing.rglob("*.csv"):
        m = pattern.match(str(p.relative_to(landing)))
        assert m, p
        entity, day = m.groups()
        assert entity in ENTITIES
        assert dt.date.fromisoformat(day) <= END
        days.add(day)
        header = p.read_text(encoding="utf-8").splitlines()[0]
        assert header.replace('"', "").split(",") == ENTITIES[entity].columns
    assert {d.name for d in landing.iterdir()} == {*ENTITIES, "_complete"}  # + day markers
    assert len(days) == summary.drop_dates
    actions = load(landing, "collection_actions")
    assert "offer" in actions.columns and (actions["offer"] == "flexible_plan").any()


def test_staff_tables_change_in_a_later_drop(run) -> None:
    ag = load(run[0], "agencies")
    assert ag["_drop"].nunique() >= 2
    first = ag[ag["_drop"] == ag["_drop"].min()]
    assert first["active"].all() and len(first) == 5
    later = ag[ag["_drop"] > ag["_drop"].min()]
    assert (~later["active"]).sum() == 1
    changed = later[later["active"]].merge(first, on="agency_id", suffixes=("", "_first"))
    assert (
        len(changed) == 1
        and (changed["monthly_capacity"] != changed["monthly_capacity_first"]).all()
    )
    col = load(run[0], "collectors")
    assert len(col[col["_drop"] == col["_drop"].min()]) == 50
    assert set(col["role"]) == {"call", "field", "legal"}


def test_loans_reappear_on_status_change(run, dirty) -> None:
    loans = _clean(load(run[0], "loans"), dirty, "loans")
    assert set(loans["status"]) >= {"active", "closed", "charged_off", "written_off"}
    multi = loans[loans.duplicated("loan_id", keep=False)].sort_values(["loan_id", "updated_at"])
    assert len(multi) > 0
    g = multi.groupby("loan_id")
    assert (g["status"].first() == "active").all()
    assert (g["status"].last() != "active").all()
    assert (g["_drop"].nunique() >= 2).mean() > 0.9  # status changes arrive in later drops
    assert loans["annual_interest_rate"].between(0, 0.36).all()


def test_schedules_sum_to_principal(run, dirty) -> None:
    inst = _clean(load(run[0], "installments"), dirty, "installments")
    loans = _clean(load(run[0], "loans"), dirty, "loans").drop_duplicates("loan_id")
    cents = (inst["principal_due"] * 100).round().astype(np.int64)
    per_loan = cents.groupby(inst["loan_id"]).sum()
    principal = (loans.set_index("loan_id")["principal_amount"] * 100).round().astype(np.int64)
    assert (per_loan.reindex(principal.index) == principal).all()
    assert 9 <= len(inst) / len(loans) <= 14
    assert (inst[["principal_due", "interest_due", "fee_due"]] >= 0).all().all()
    first = inst.groupby("loan_id")["installment_no"].min()
    assert (first == 1).all()
    merged = inst.merge(loans[["loan_id", "origination_date", "term_months"]], on="loan_id")
    assert (merged["due_date"] > merged["origination_date"]).all()
    assert (
        merged.groupby("loan_id")["installment_no"].max()
        == merged.groupby("loan_id")["term_months"].first()
    ).all()


def test_customers_pii_and_flags(run, dirty) -> None:
    cust = _clean(load(run[0], "customers"), dirty, "customers")
    assert national_id_valid(cust["national_id"].to_numpy()).all()
    birth = pd.to_datetime(cust["birth_date"]).dt.strftime("%Y%m%d")
    assert (cust["national_id"].str[6:14] == birth).all()
    assert cust["phone"].str.fullmatch(r"\+861\d{10}").all()
    assert cust["full_name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert cust["province"].str.endswith(("省", "市", "区")).all()
    assert set(cust["timezone"]) == {"Asia/Shanghai", "Asia/Urumqi"}
    assert 0.01 < cust["monthly_income"].isna().mean() < 0.15
    n_loans = load(run[0], "loans")["loan_id"].nunique()
    assert 0.7 < cust["customer_id"].nunique() / n_loans < 0.9
    # the checker itself rejects a wrong check digit
    good = cust["national_id"].iloc[0]
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    assert not national_id_valid(np.array([bad]))[0]


def test_every_dirty_kind_present_and_recorded(run, dirty) -> None:
    landing, _, summary = run
    assert set(dirty["kind"]) == set(KIND_NAMES)
    assert summary.dirty_rows == dirty["kind"].value_counts().sort_index().to_dict()
    total = sum(v for k, v in summary.rows_written.items() if k not in ("agencies", "collectors"))
    assert 0.5 * SMALL.dirty_share < len(dirty) / total < 2 * SMALL.dirty_share
    rep = load(landing, "repayments").set_index("repayment_id")
    neg = dirty[(dirty.kind == "negative_amount") & (dirty.entity == "repayments")]["key"]
    assert (rep.loc[neg, "amount"] < 0).all()
    assert (_clean(rep.reset_index(), dirty, "repayments")["amount"] > 0).all()
    cust = load(landing, "customers").set_index("customer_id")
    bad_phone = dirty[dirty.kind == "malformed_phone"]["key"]
    assert not cust.loc[bad_phone, "phone"].str.fullmatch(r"\+861\d{10}").any()
    loans = load(landing, "loans")
    assert (loans["product"] == "payday").sum() == (
        (dirty.kind == "invalid_value") & (dirty.entity == "loans")
    ).sum()
    assert (loans["annual_interest_rate"] > 0.36).sum() == (dirty.kind == "rate_above_cap").sum()
    dup = dirty[dirty.kind == "duplicate_key"]
    for entity, grp in dup.groupby("entity"):
        df = load(landing, entity)
        keys = ENTITIES[entity].key
        k = df[list(keys)].astype(str).agg("|".join, axis=1) if len(keys) > 1 else df[keys[0]]
        counts = k[k.isin(set(grp["key"]))].value_counts()
        assert (counts >= 2).all() and len(counts) == grp["key"].nunique()
    orphan = dirty[dirty.kind == "orphan_loan_id"]
    known = set(loans["loan_id"])
    acts = load(landing, "collection_actions").set_index("action_id")
    assert (
        not acts.loc[orphan[orphan.entity == "collection_actions"]["key"], "loan_id"]
        .isin(known)
        .any()
    )
    # every recorded row is in the drop it says
    for entity, grp in dirty.groupby("entity"):
        df = load(landing, entity)
        keys = ENTITIES[entity].key
        k = df[list(keys)].astype(str).agg("|".join, axis=1) if len(keys) > 1 else df[keys[0]]
        pairs = set(zip(k, df["_drop"], strict=True))
        assert all(
            (key, str(d)) in pairs for key, d in zip(grp["key"], grp["drop_date"], strict=True)
        )


def test_no_dirty_rows_when_disabled(tmp_path: Path) -> None:
    landing, truth, summary = _run(tmp_path, SimulationConfig(n_loans=500, dirty_share=0.0))
    assert sum(summary.dirty_rows.values()) == 0
    assert pd.read_parquet(truth / "dirty_rows.parquet").empty
    assert (load(landing, "repayments")["amount"] > 0).all()


def test_nothing_after_end_date_except_injected_future_dates(run, dirty) -> None:
    landing = run[0]
    limit = (END + dt.timedelta(days=1)).isoformat()
    future = set(dirty.loc[dirty.kind == "future_date", "key"])
    checked = 0
    for entity, cols in {
        "customers": ["updated_at"],
        "loans": ["updated_at", "origination_date"],
        "repayments": ["paid_at", "updated_at"],
        "collection_actions": ["action_at"],
        "satisfaction": ["surveyed_at"],
    }.items():
        df = load(landing, entity)
        key = df[ENTITIES[entity].key[0]]
        for c in cols:
            late = df[c] >= limit
            assert not (late & ~key.isin(future)).any(), (entity, c)
            checked += len(df)
        assert (df["_drop"] <= END.isoformat()).all()
    rep = load(landing, "repayments")
    assert (rep["paid_at"].str[:10] > rep["_drop"]).sum() > 0  # the injected future dates are there
    assert checked > 10_000


def test_timestamps_are_iso_and_contacts_in_allowed_hours(run, dirty) -> None:
    acts = _clean(load(run[0], "collection_actions"), dirty, "collection_actions")
    assert acts["action_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}").all()
    t = acts["action_at"].str[11:]
    assert ((t >= "08:00:00") & (t <= "21:00:00")).all()
    assert set(acts["channel"]) >= {"sms", "app_push", "call", "visit", "letter", "agency"}
    assert set(acts["outcome"]) >= {
        "delivered",
        "no_answer",
        "right_party_contact",
        "promise_to_pay",
        "paid",
    }
    ptp = acts["outcome"] == "promise_to_pay"
    assert acts.loc[ptp, ["ptp_amount", "ptp_date"]].notna().all().all()
    assert acts.loc[~ptp, ["ptp_amount", "ptp_date"]].isna().all().all()
    calls = acts["channel"].isin(["call", "visit"])
    assert acts.loc[~calls, "recorded"].eq(False).all() and acts.loc[calls, "recorded"].mean() > 0.9


def test_repayments_cures_and_reversals(run, dirty) -> None:
    landing, truth, _ = run
    rep = _clean(load(landing, "repayments"), dirty, "repayments")
    ep = pd.read_parquet(truth / "episodes.parquet")
    cured = ep.dropna(subset=["cure_date"])
    paid_days = set(zip(rep["loan_id"], rep["paid_at"].str[:10], strict=True))
    assert all(
        (lid, str(d)) in paid_days
        for lid, d in zip(cured["loan_id"], cured["cure_date"], strict=True)
    )
    rev = rep.dropna(subset=["reversal_of"])
    assert len(rev) > 0
    orig = rep.set_index("repayment_id").loc[rev["reversal_of"]]
    assert (orig["amount"].to_numpy() == rev["amount"].to_numpy()).all()
    assert (orig["paid_at"].to_numpy() < rev["paid_at"].to_numpy()).all()
    by_agency = rep[rep["channel"] == "agency"]
    assert by_agency["agency_id"].notna().all() and by_agency["collector_id"].isna().all()
    assert rep.loc[rep["channel"] == "collector", "collector_id"].notna().all()


def test_ground_truth_probabilities(run) -> None:
    rp = pd.read_parquet(run[1] / "recovery_probability.parquet")
    assert rp["true_recovery_prob"].between(0, 1).all()
    d = rp[rp["kind"] == "default"]
    assert len(d) > 500
    yes = d.loc[d["cured_within_90d"], "true_recovery_prob"].mean()
    no = d.loc[~d["cured_within_90d"], "true_recovery_prob"].mean()
    assert yes > no + 0.1
    assert abs(d["true_recovery_prob"].mean() - d["cured_within_90d"].mean()) < 0.05  # calibrated
    assert (
        d.groupby(pd.cut(d["dpd"], [0, 30, 90, 180, 400]), observed=True)["true_recovery_prob"]
        .mean()
        .is_monotonic_decreasing
    )
    assert pd.to_datetime(rp["as_of_date"]).dt.is_month_end.all()
    assert (pd.to_datetime(rp["as_of_date"]) <= pd.Timestamp(END)).all()


def test_collection_intensity_causally_raises_cures(tmp_path: Path) -> None:
    _, truth, _ = _run(tmp_path, SimulationConfig(n_loans=5000, seed=5, dirty_share=0.0))
    ep = pd.read_parquet(truth / "episodes.parquet")
    ep = ep[~ep["suppressed"]]
    lo, hi = ep["intensity_early"].quantile([1 / 3, 2 / 3])
    cure30 = ep["latent_cure_dpd"].le(30)
    assert (
        cure30[ep["intensity_early"] >= hi].mean()
        > cure30[ep["intensity_early"] <= lo].mean() + 0.05
    )
    # randomised arm: the flexible plan raises cures within 90 days
    assert (
        ep.loc[ep["flexible_plan_offered"], "cured_within_90d"].mean()
        > ep.loc[~ep["flexible_plan_offered"], "cured_within_90d"].mean()
    )
    # intensity is a cause, not a symptom: it does not depend on the borrower's own cure propensity
    assert (
        abs(np.corrcoef(ep["intensity_early"], np.log(ep["borrower_cure_multiplier"]))[0, 1]) < 0.1
    )


def test_borrower_effects_change_with_time_in_arrears() -> None:
    """The documented interactions (config.Model, behaviour._segment_log_mult)."""
    from types import SimpleNamespace

    from nplpipeline.contract import EMPLOYMENT_TYPES
    from nplpipeline.simulate.behaviour import _segment_log_mult
    from nplpipeline.simulate.config import MODEL

    def log_mult(employment, income, dti=0.0, k_miss=7, term=12) -> np.ndarray:
        b = SimpleNamespace(
            employment=np.array([EMPLOYMENT_TYPES.index(employment)]), income=np.array([income])
        )
        ln = SimpleNamespace(term=np.array([term]), dti=np.array([dti]))
        return _segment_log_mult(MODEL, b, ln, np.array([0]), np.array([0]), np.array([k_miss]))[0]

    # segments (0,7,30,45,90,120,180,365,inf): [0] is DPD 0-7, [5] DPD 120-180
    salaried = log_mult("salaried", 12_000) - log_mult("salaried", 3_000)
    assert salaried[0] > 0.6 and salaried[0] > 3 * salaried[5] > 0  # capacity, early
    assert log_mult("salaried", 12_000)[0] - log_mult("self_employed", 12_000)[0] > 0.2
    assert np.allclose(log_mult("student", 12_000), log_mult("student", 3_000))
    burden = log_mult("salaried", 6_000, dti=0.3) - log_mult("salaried", 6_000)
    assert burden[0] < 0 and (np.diff(burden) <= 0).all() and burden[5] < 3 * burden[0]
    assert burden[-1] >= -MODEL.arrears_burden_effect * MODEL.arrears_burden_cap
    # arrears stop growing once no instalment is left to fall due
    last = log_mult("salaried", 6_000, dti=0.3, k_miss=12) - log_mult("salaried", 6_000, k_miss=12)
    assert np.allclose(last, last[0])
    seasoned = log_mult("salaried", 6_000, k_miss=13, term=24) - log_mult(
        "salaried", 6_000, k_miss=1, term=24
    )
    assert (
        seasoned[0] > seasoned[4] > seasoned[-1] == pytest.approx(-MODEL.cure_first_payment_default)
    )


def test_intensity_shows_in_contact_history(run) -> None:
    landing, truth, _ = run
    ep = pd.read_parquet(truth / "episodes.parquet")
    acts = load(landing, "collection_actions")
    calls = acts[(acts["channel"] == "call") & acts["performed_by"].isin(ep["early_collector_id"])]
    n = calls.groupby("loan_id").size()
    df = ep.set_index("loan_id").join(n.rename("calls")).fillna({"calls": 0})
    df = df[~df["suppressed"]]
    assert np.corrcoef(df["intensity_early"], df["calls"])[0, 1] > 0.1


def test_summary_is_small_json_without_pii(run) -> None:
    landing, truth, summary = run
    text = json.dumps(dataclasses.asdict(summary), ensure_ascii=False)
    cust = load(landing, "customers")
    for col in ("full_name", "national_id", "phone"):
        assert not any(v in text for v in cust[col].dropna().head(200))
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["summary"] == json.loads(text)
    assert 0 < summary.npl_ratio_truth < 0.5


@pytest.mark.slow
def test_npl_ratio_band_and_concentration(tmp_path: Path) -> None:
    _, truth, summary = _run(tmp_path, SimulationConfig(n_loans=100_000))
    st = pd.read_parquet(truth / "loan_state.parquet")
    on = st[st["status"].isin(["active", "charged_off"])]

    def ratio(df: pd.DataFrame) -> float:
        return (
            df.loc[df["dpd"] > 90, "outstanding_principal"].sum()
            / df["outstanding_principal"].sum()
        )

    overall = ratio(on)
    assert 0.045 <= overall <= 0.065
    assert abs(overall - summary.npl_ratio_truth) < 1e-4
    assert ratio(on[on["age"] < 30]) >= 1.3 * overall
    inc = st["monthly_income"]
    q1 = inc.quantile(0.2)
    assert ratio(on[on["monthly_income"] <= q1]) >= 1.3 * overall

"""The lender twin: warm-up, daily steps, what it reads from the pipeline's exports."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from nplpipeline.act.delivery.export import write_bundle
from nplpipeline.contract import ENTITIES
from nplpipeline.devtools.crm_server import CrmState
from nplpipeline.devtools.crm_store import applied_items
from nplpipeline.simulate.twin import (
    DayDecisions,
    TwinConfig,
    TwinDayError,
    load_status_quo_policy,
    read_pipeline_decisions,
    status_quo_decisions,
    step_day,
    warm_up,
)

START = dt.date(2026, 6, 30)
CONFIG = TwinConfig(n_loans=800, seed=5, start_date=START, history_days=180)


def _run(root: Path, days: int = 2) -> None:
    warm_up(CONFIG, root / "twin", root / "landing", root / "truth")
    policy = load_status_quo_policy()
    for k in range(days):
        day = START + dt.timedelta(days=k)
        step_day(
            root / "twin",
            day,
            status_quo_decisions(root / "twin", day, policy),
            root / "landing",
            root / "truth",
        )


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"  # the simulator records its paths
    }


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("twin")
    _run(root)
    return root


def test_same_seed_same_bytes(twin_run: Path, tmp_path: Path) -> None:
    _run(tmp_path)
    assert _digest(tmp_path / "landing") == _digest(twin_run / "landing")
    assert _digest(tmp_path / "truth") == _digest(twin_run / "truth")


def test_drops_of_the_next_day_follow_the_contract(twin_run: Path) -> None:
    day = (START + dt.timedelta(days=2)).isoformat()
    written = {p.parent.parent.name for p in (twin_run / "landing").glob(f"*/{day}/part-*")}
    assert {"repayments", "collection_actions", "loans"} <= written
    for entity in written:
        frame = pd.read_csv(twin_run / "landing" / entity / day / "part-00000.csv")
        assert list(frame.columns) == [f.name for f in ENTITIES[entity].fields]
    acts = pd.read_csv(twin_run / "landing" / "collection_actions" / day / "part-00000.csv")
    crm = acts[acts["channel"].isin(["call", "sms"])]
    # the CRM's contacts for D's worklist are dated D and arrive in the drop of D + 1
    assert (pd.to_datetime(crm["action_at"]).dt.date == START + dt.timedelta(days=1)).all()


def test_restep_of_the_last_day_rewinds_and_gives_the_same_bytes(tmp_path: Path) -> None:
    _run(tmp_path, days=2)
    before = _digest(tmp_path / "landing")
    day = START + dt.timedelta(days=1)
    decisions = status_quo_decisions(tmp_path / "twin", day, load_status_quo_policy())
    step_day(tmp_path / "twin", day, decisions, tmp_path / "landing", tmp_path / "truth")
    assert _digest(tmp_path / "landing") == before


def test_refuses_a_day_that_is_not_next(twin_run: Path) -> None:
    with pytest.raises(TwinDayError, match="next day"):
        step_day(
            twin_run / "twin",
            START + dt.timedelta(days=5),
            DayDecisions.empty(START),
            twin_run / "landing",
            twin_run / "truth",
        )


class _Settings:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.outbox_dir = str(home / "outbox")


def test_reads_what_the_crm_and_agencies_received(tmp_path: Path) -> None:
    day = dt.date(2026, 7, 1)
    item = {
        "item_id": "20260701-L000000001-call",
        "loan_id": "L000000001",
        "customer_id": "C000000001",
        "channel": "call",
        "queue": "E0001",
        "queue_rank": 1,
        "timezone": "Asia/Shanghai",
        "window_start_utc": "2026-07-01T00:00:00Z",
        "window_end_utc": "2026-07-01T13:00:00Z",
        "offer_type": "flexible_plan",
        "offer_instalment_amount": "300.00",
    }
    state = CrmState(tmp_path / "crm-standin.sqlite")
    state.submit(day.isoformat(), "k" * 64, "sha", [item])
    placements = pd.DataFrame(
        {
            "placement_id": ["PL1"],
            "loan_id": ["L000000002"],
            "start_date": [day],
            "recall_date": [day + dt.timedelta(days=120)],
        }
    )
    recalls = pd.DataFrame(
        {
            "placement_id": ["PL0"],
            "loan_id": ["L000000003"],
            "recalled_on": [day],
            "recall_reason": ["cured"],
        }
    )
    write_bundle(
        str(tmp_path / "outbox"),
        f"agencies/AG02/{day.isoformat()}",
        {"placements": placements, "recalls": recalls},
    )
    got = read_pipeline_decisions(_Settings(tmp_path), day)
    assert got.worklist["item_id"].tolist() == [item["item_id"]]
    assert got.worklist["window_end_utc"].iloc[0] == pd.Timestamp("2026-07-01 13:00:00")
    assert got.offers["offer_type"].tolist() == ["flexible_plan"]
    assert got.placements[["loan_id", "agency_id"]].values.tolist() == [["L000000002", "AG02"]]
    assert got.recalls["reason"].tolist() == ["cured"]
    assert applied_items(tmp_path / "crm-standin.sqlite", day.isoformat()) == [item]


def test_the_crm_bundle_of_d_is_worked_inside_its_windows_into_the_drop_of_d_plus_1(
    tmp_path: Path,
) -> None:
    """The pipeline's own export (payload allow-list, typed bundle) drives the twin."""
    from nplpipeline.act.delivery.payload import worklist_table
    from nplpipeline.act.delivery.stage import bundle_folder, channel_frames

    warm_up(CONFIG, tmp_path / "twin", tmp_path / "landing", tmp_path / "truth")
    sq = status_quo_decisions(tmp_path / "twin", START, load_status_quo_policy())
    calls = sq.worklist[sq.worklist["channel"] == "call"].head(40)
    assert len(calls) >= 10
    rows = [
        {
            **rec,
            "tier": "mild",
            "earliest_local_time": "09:00:00",
            "latest_local_time": "20:00:00",
            "dpd": 10,
            "overdue_amount": 100,
            "legal_ready": False,
            "offer_type": "flexible_plan",
            "offer_instalments": 3,
            "offer_instalment_amount": 250.5,
            "offer_first_due_date": START + dt.timedelta(days=7),
        }
        for rec in calls.to_dict("records")
    ]
    write_bundle(
        str(tmp_path / "outbox"),
        bundle_folder(START),
        channel_frames(worklist_table(START, rows)),
    )
    got = read_pipeline_decisions(_Settings(tmp_path), START)
    assert sorted(got.worklist["item_id"]) == sorted(calls["item_id"])
    assert len(got.offers) == len(calls)
    step_day(tmp_path / "twin", START, got, tmp_path / "landing", tmp_path / "truth")
    drop = (START + dt.timedelta(days=1)).isoformat()
    acts = pd.read_csv(tmp_path / "landing" / "collection_actions" / drop / "part-00000.csv")
    worked = acts[acts["channel"] == "call"]
    assert set(worked["loan_id"]) <= set(calls["loan_id"]) and len(worked) > 0
    local = pd.to_datetime(worked["action_at"])
    assert (local.dt.date == START).all()
    assert ((local.dt.hour >= 9) & (local.dt.hour < 20)).all()
    assert worked["performed_by"].str.startswith("E").all()
    ptp = acts[acts["outcome"] == "promise_to_pay"]
    assert ptp["ptp_amount"].notna().all() and ptp["ptp_date"].notna().all()


def test_with_a_crm_a_date_it_never_acknowledged_is_an_empty_worklist(tmp_path: Path) -> None:
    CrmState(tmp_path / "crm-standin.sqlite").submit("2026-07-01", "a" * 64, "sha", [])
    frame = pd.DataFrame({"item_id": ["x"], "loan_id": ["L000000001"], "channel": ["sms"]})
    write_bundle(str(tmp_path / "outbox"), "crm/2026-07-02", {"worklist_sms": frame})
    got = read_pipeline_decisions(_Settings(tmp_path), dt.date(2026, 7, 2))
    assert got.worklist.empty  # the files exist, but the CRM never received them
    (tmp_path / "crm-standin.sqlite").unlink()
    files_only = read_pipeline_decisions(_Settings(tmp_path), dt.date(2026, 7, 2))
    assert files_only.worklist["item_id"].tolist() == ["x"]


def test_over_weeks_promises_pay_on_their_date_and_truth_matches_the_drops(
    tmp_path: Path,
) -> None:
    config = TwinConfig(n_loans=1500, seed=8, start_date=START, history_days=180, dirty_share=0)
    warm_up(config, tmp_path / "twin", tmp_path / "landing", tmp_path / "truth")
    policy = load_status_quo_policy()
    days = 21
    for k in range(days):
        day = START + dt.timedelta(days=k)
        decisions = status_quo_decisions(tmp_path / "twin", day, policy)
        step_day(tmp_path / "twin", day, decisions, tmp_path / "landing", tmp_path / "truth")
    dates = [(START + dt.timedelta(days=k)).isoformat() for k in range(1, days + 1)]

    def frames(entity: str) -> pd.DataFrame:
        parts = [
            pd.read_csv(p)
            for d in dates
            for p in (tmp_path / "landing" / entity / d).glob("part-*.csv")
        ]
        return pd.concat(parts, ignore_index=True)

    pays = frames("repayments")
    signed = pays["amount"].where(pays["reversal_of"].isna(), -pays["amount"])
    truth = pd.concat(
        [pd.read_parquet(tmp_path / "truth" / "days" / d / "repayments.parquet") for d in dates]
    )
    assert round(signed.sum() * 100) == truth["amount_cents"].sum()

    acts = frames("collection_actions")
    ptp = acts[(acts["outcome"] == "promise_to_pay") & acts["performed_by"].str.startswith("E")]
    assert len(ptp) >= 10
    ptp = ptp.assign(made=pd.to_datetime(ptp["action_at"]).dt.normalize())
    ptp["due"] = pd.to_datetime(ptp["ptp_date"])
    paid = pays.assign(day=pd.to_datetime(pays["paid_at"]).dt.normalize())
    paid = paid.rename(columns={"channel": "pay_channel"})[["loan_id", "day", "pay_channel"]]
    got = ptp.merge(paid, on="loan_id", how="left")
    inside = got[(got["day"] > got["made"]) & (got["day"] < got["due"])]
    assert inside.empty, "a promised account paid before its promised date"
    kept = got[got["day"] == got["due"]]
    assert len(kept) > 0 and (kept["pay_channel"] == "collector").all()

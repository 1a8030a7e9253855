"""Warm-up: the simulator writes the history up to start_date; the twin keeps its world.

``simulate_portfolio`` runs unchanged (same drops, same truth) and hands each chunk's
generated world to ``_Collector``; from those the state after ``start_date`` is derived:
open loans and schedules with what is paid, the first missed instalment of every loan
(future ones included), base cure hazards, open episodes with their collector's contact
intensity, legacy agency placements, plans, visits and open disputes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.simulate.behaviour import _borrower_cure_mult, _segment_log_mult
from nplpipeline.simulate.config import DAY, MODEL
from nplpipeline.simulate.engine import ChunkWorld, simulate_portfolio

from .config import TwinConfig, day_rng, start_day
from .parameters import PARAMS
from .state import BIG, WorldState, save

LOAN_FIELDS = ("product", "term", "principal", "rate_bp", "orig_day", "orig_ts", "fee_rate")
LOAN_FIELDS += ("miss_prob", "dti")
BORROWER_FIELDS = ("birth_day", "age_end", "city", "province", "urumqi", "employment")
BORROWER_FIELDS += ("income", "income_missing", "frailty", "dnc", "vulnerable", "dispute")
BORROWER_FIELDS += ("event", "event_day")


def base_hazards(state_b, state_l, cust: np.ndarray, loan: np.ndarray, k_miss: np.ndarray):
    """Per-loan hazard levels without treatments (the simulator's borrower model)."""
    m = MODEL
    k = np.minimum(k_miss, state_l.term[loan])
    seg = np.exp(_segment_log_mult(m, state_b, state_l, cust, loan, k))
    seg[:, 7] *= 0.5  # the simulator's 365+ segment
    bm = _borrower_cure_mult(m, state_b, cust)
    return m.base_hazard_array()[None, :] * bm[:, None] * seg


def empty_pending() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    i64 = lambda: np.zeros(0, dtype=np.int64)  # noqa: E731
    rev = {"loan": i64(), "rep_no": i64(), "amount": i64(), "channel": i64(), "day": i64()}
    rev["agency"] = i64()
    survey = {"cust": i64(), "day": i64(), "score": i64(), "tod": i64()}
    return rev, survey


def _cust_numbers(ids: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(pc.utf8_slice_codeunits(ids, 1), pa.int64()).to_numpy()


class _Collector:
    def __init__(self) -> None:
        self.chunks: list[ChunkWorld] = []

    def __call__(self, world: ChunkWorld) -> None:
        self.chunks.append(world)


def _master(chunks: list[ChunkWorld]) -> pa.Table:
    """Latest customer row per customer, in borrower order."""
    parts = []
    for w in chunks:
        t = w.customers.drop_columns(["_drop"])
        n = w.borrowers.n
        last = np.arange(n)
        extra = t.slice(n)
        if extra.num_rows:
            last[_cust_numbers(extra["customer_id"]) - w.borrowers.first_id] = n + np.arange(
                extra.num_rows
            )
        parts.append(t.take(pa.array(last)))
    return pa.concat_tables(parts)


def _concat(chunks: list[ChunkWorld]) -> dict[str, Any]:
    ln_: dict[str, list] = {f: [] for f in (*LOAN_FIELDS, "cust", "k_miss", "status")}
    bw: dict[str, list] = {f: [] for f in (*BORROWER_FIELDS, "cust_no")}
    sc: dict[str, list] = {f: [] for f in ("loan", "k", "due_day", "principal", "interest")}
    sc.update({"fee": [], "paid_ts": []})
    eps: dict[str, list] = {f: [] for f in ("loan", "d0", "cd", "agency", "place_dpd", "plan")}
    eps.update({"plan_dpd": [], "visit": [], "visit_dpd": [], "i_early": [], "i_mid": []})
    eps.update({"partial": [], "partial_dpd": [], "partial_amount": []})
    disputes: list[np.ndarray] = []
    c_off = 0
    for w in chunks:
        ln, b, sch, beh = w.loans, w.borrowers, w.schedule, w.behaviour
        for f in LOAN_FIELDS:
            ln_[f].append(getattr(ln, f))
        ln_["cust"].append(ln.cust + c_off)
        ln_["k_miss"].append(beh.k_miss)
        ln_["status"].append(beh.status_end)
        for f in BORROWER_FIELDS:
            bw[f].append(getattr(b, f))
        bw["cust_no"].append(b.first_id + np.arange(b.n))
        for f in ("k", "due_day", "principal", "interest", "fee"):
            sc[f].append(getattr(sch, f))
        sc["loan"].append(sch.loan + ln.first_id)
        sc["paid_ts"].append(beh.paid_ts)
        ep = beh.episodes
        eps["loan"].append(ep.loan + ln.first_id)
        for f in (
            "d0",
            "cd",
            "agency",
            "place_dpd",
            "plan",
            "plan_dpd",
            "visit",
            "visit_dpd",
            "partial",
            "partial_dpd",
            "partial_amount",
        ):
            eps[f].append(getattr(ep, f))
        eps["i_early"].append(ep.i_early)
        eps["i_mid"].append(ep.i_mid)
        acts = w.actions
        is_d = pc.equal(acts["outcome"], "dispute")
        d_c = _cust_numbers(acts["customer_id"].filter(is_d)) - b.first_id + c_off
        d_t = acts["action_at"].filter(is_d).cast(pa.int64()).to_numpy() // DAY
        disputes.append(np.stack([d_c, d_t]) if len(d_c) else np.zeros((2, 0), dtype=np.int64))
        c_off += b.n
    cat = lambda d: {k: np.concatenate(v) for k, v in d.items()}  # noqa: E731
    return {
        "L": cat(ln_),
        "B": cat(bw),
        "S": cat(sc),
        "E": cat(eps),
        "disputes": np.concatenate(disputes, axis=1),
    }


def build_state(config: TwinConfig, chunks: list[ChunkWorld]) -> WorldState:
    s_day = start_day(config)
    parts = _concat(chunks)
    ln_, bw, sc, eps = parts["L"], parts["B"], parts["S"], parts["E"]
    n, nb = len(ln_["cust"]), len(bw["income"])
    meta = {
        "day": s_day,
        "seed": config.seed,
        "n_loans": config.n_loans,
        "n_chunks": config.simulation().n_chunks,
        "history_start_day": s_day - config.history_days,
        "history_days": config.history_days,
        "file_format": config.file_format,
        "dirty_share": config.dirty_share,
        "next_loan_no": n,
        "next_cust_no": int(bw["cust_no"].max()) + 1 if nb else 0,
        "next_repayment_no": 0,
        "next_action_no": 0,
        "next_survey_no": 0,
        "steps": 0,
    }
    rng = day_rng(meta, s_day, 0)
    st = WorldState(meta=meta, loans={}, borrowers={}, schedule={})
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ln_["term"], out=start[1:])
    k_miss = ln_.pop("k_miss")
    has = k_miss <= ln_["term"]
    d0 = np.full(n, BIG, dtype=np.int64)
    d0[has] = sc["due_day"][start[:-1][has] + k_miss[has] - 1]
    st.loans = {**ln_, "k_miss": k_miss, "d0": d0}
    st.borrowers = {**bw}
    st.borrowers["dispute_open"] = bw["dispute"].copy()
    st.borrowers["dispute_since"] = np.where(bw["dispute"], s_day, BIG).astype(np.int64)
    dc, dt_ = parts["disputes"]
    st.borrowers["dispute_open"][dc] = True
    np.minimum.at(st.borrowers["dispute_since"], dc, dt_)

    # Episodes: cured by start_day, or open (the twin draws the rest of their future).
    cure_day = np.full(n, BIG, dtype=np.int64)
    e_cd = np.where(np.isfinite(eps["cd"]), eps["cd"], 1e12).astype(np.int64)
    cured = eps["d0"] + e_cd <= s_day
    cure_day[eps["loan"][cured]] = (eps["d0"] + e_cd)[cured]
    open_ep = (d0 <= s_day) & (cure_day == BIG) & (ln_["status"] < 3)
    st.loans["cure_day"] = cure_day
    st.hb = base_hazards(st.borrowers_view(), st.loans_view(), ln_["cust"], np.arange(n), k_miss)

    # Schedule: what is paid by start_day, and when the rest is planned to be paid.
    end_excl = (s_day + 1) * DAY
    paid_ts = sc.pop("paid_ts")
    finite = paid_ts < np.iinfo(np.int64).max
    paid_day = np.where(paid_ts < end_excl, paid_ts // DAY, BIG)
    in_open = open_ep[sc["loan"]] & (sc["k"] >= k_miss[sc["loan"]])
    plan_day = np.where(finite & ~in_open, paid_ts // DAY, BIG)
    st.schedule = {**sc, "paid_day": paid_day, "plan_day": plan_day}

    _treatments(st, eps, open_ep, s_day)
    st.loans["pref_app"] = rng.random(n) < 0.75
    st.rev, st.survey = empty_pending()
    st.customers = _master(chunks)
    assert st.customers.num_rows == nb
    return st


def _treatments(st: WorldState, eps: dict, open_ep: np.ndarray, s_day: int) -> None:
    """Per-loan treatment state at start_day, continuing the simulator's for open episodes."""
    p = PARAMS
    n = len(open_ep)
    z = lambda v, dt=np.int64: np.full(n, v, dtype=dt)  # noqa: E731
    ln_ = st.loans
    ln_.update(
        intensity=z(0.0, np.float64),
        ep_isum=z(0.0, np.float64),
        ep_days=z(0, np.int64),
        plan=z(0, np.int8),  # 0 none, 1 affordable plan, 2 unaffordable plan, 3 hardship
        offer_day=z(BIG),
        visit_day=z(BIG),
        agency=z(-1, np.int64),
        placed_on=z(BIG),
        period_end=z(BIG),
        ptp_until=z(-1),
        ptp_kept=z(False, bool),
        ptp_by=z(-1, np.int64),
        placements=z(0, np.int64),
    )
    e = eps["loan"]
    op = open_ep[e]
    dpd = s_day - eps["d0"]
    i_now = np.where(dpd < 30, eps["i_early"], eps["i_mid"])
    ref = np.where(dpd < 30, p.reference_rate_early, p.reference_rate_mid)
    ln_["intensity"][e[op]] = (i_now * ref * p.intensity_tau_days)[op]
    ln_["ep_isum"][e[op]] = (0.5 * (eps["i_early"] + eps["i_mid"]) * np.maximum(dpd, 0))[op]
    ln_["ep_days"][e[op]] = np.maximum(dpd, 0)[op]
    on = op & eps["plan"] & (eps["d0"] + eps["plan_dpd"] <= s_day)
    ln_["plan"][e[on]] = 1
    ln_["offer_day"][e[on]] = (eps["d0"] + eps["plan_dpd"])[on]
    # a partial payment made before start_date counts against the arrears the cure pays
    ln_["credit"] = z(0)
    part = op & eps["partial"] & (eps["partial_dpd"] < eps["cd"])
    part &= eps["d0"] + eps["partial_dpd"] <= s_day
    ln_["credit"][e[part]] = eps["partial_amount"][part]
    vis = op & eps["visit"] & (eps["d0"] + eps["visit_dpd"] <= s_day)
    ln_["visit_day"][e[vis]] = (eps["d0"] + eps["visit_dpd"])[vis]
    placed_on = eps["d0"] + eps["place_dpd"]
    pl = op & (eps["agency"] >= 0) & (placed_on <= s_day)
    pl &= placed_on + p.legacy_placement_days > s_day
    ln_["agency"][e[pl]] = eps["agency"][pl]
    ln_["placed_on"][e[pl]] = placed_on[pl]
    ln_["period_end"][e[pl]] = (placed_on + p.legacy_placement_days)[pl]
    ln_["placements"][e[eps["agency"] >= 0]] = ((placed_on <= s_day) & (eps["agency"] >= 0))[
        eps["agency"] >= 0
    ]


def warm_up(
    config: TwinConfig, twin_dir: Path, landing_dir: Path, truth_dir: Path
) -> dict[str, Any]:
    """History drops up to start_date, their truth, and the twin's state after it."""
    collect = _Collector()
    summary = simulate_portfolio(
        config.simulation(), Path(landing_dir), Path(truth_dir), on_chunk=collect
    )
    state = build_state(config, collect.chunks)
    save(state, Path(twin_dir))
    return {
        "start_date": config.start_date.isoformat(),
        "loans": len(state.loans["cust"]),
        "customers": len(state.borrowers["income"]),
        "open_episodes": int(
            ((state.loans["d0"] <= state.day) & (state.loans["cure_day"] == BIG)).sum()
        ),
        "rows_written": sum(dataclasses.asdict(summary)["rows_written"].values()),
    }

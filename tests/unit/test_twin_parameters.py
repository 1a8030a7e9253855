"""The twin reproduces its documented response parameters (parameters.py)."""

from __future__ import annotations

import itertools

import numpy as np

from nplpipeline.simulate.twin import crm, world
from nplpipeline.simulate.twin import experiments as ex
from nplpipeline.simulate.twin import response as rs
from nplpipeline.simulate.twin.agencies import AGENCY_IDS
from nplpipeline.simulate.twin.parameters import PARAMS
from nplpipeline.simulate.twin.state import BIG

STUDY = PARAMS.reminder_study_effect_pp / 100


def test_reminder_effect_matches_the_field_study_in_expectation() -> None:
    st = ex.synthetic_book(60_000, PARAMS.reminder_study_dpd, seed=3)  # not the calibration seed
    control = ex.cure_probability(st, PARAMS.reminder_study_window_days).mean()
    st.loans["intensity"][:] = PARAMS.reminder_weight
    treated = ex.cure_probability(st, PARAMS.reminder_study_window_days).mean()
    assert abs((treated - control) - STUDY) < 0.0015


def test_randomised_reminder_through_the_crm_reproduces_plus_2_4_pp() -> None:
    treated, cured = ex.randomised_reminder(160_000, seed=21)
    effect = cured[treated].mean() - cured[~treated].mean()
    se = np.sqrt(cured[treated].var() / treated.sum() + cured[~treated].var() / (~treated).sum())
    assert se < 0.003
    assert abs(effect - STUDY) < 3.5 * se  # the study's own CI is 1.68-3.12 pp


def test_contact_intensity_has_diminishing_returns() -> None:
    st = ex.synthetic_book(20_000, 10, seed=4)
    probs = []
    for calls in range(0, 9):
        st.loans["intensity"][:] = calls * PARAMS.channel_weight["call"]
        probs.append(ex.cure_probability(st, 30).mean())
    gains = np.diff(probs)
    assert (gains > 0).all()
    assert (np.diff(gains) < 0).all()


def test_complaints_rise_with_intensity() -> None:
    n = 40_000
    rates = []
    for prior_calls in (0.0, 4.0, 12.0):
        st = ex.synthetic_book(n, 20, seed=5)
        st.loans["intensity"][:] = prior_calls
        w = crm.work_worklist(
            st,
            ex._no_staff(),
            ex.items(st, np.arange(n), "call"),
            ex.DAY0,
            np.random.default_rng(9),
        )
        rates.append((w["outcome"] == rs.OC["complaint"]).mean())
    assert rates[0] < rates[1] < rates[2]


def test_collectability_decays_with_time_in_arrears() -> None:
    by_dpd = [
        ex.cure_probability(ex.synthetic_book(20_000, d, seed=6), 30).mean()
        for d in (5, 30, 60, 120, 200)
    ]
    assert all(a > b for a, b in itertools.pairwise(by_dpd))
    st = ex.synthetic_book(1_000, 50, seed=6)
    idx = np.arange(1_000)
    h_early = rs.day_hazard(st, idx, ex.DAY0 - 2, np.ones(5))
    h_late = rs.day_hazard(st, idx, ex.DAY0 + 30, np.ones(5))  # same segment (45-90)
    assert (h_late < h_early).all()


def test_affordable_offers_raise_cure_and_unaffordable_ones_do_not() -> None:
    out = {}
    for plan in (0, 1, 2):
        st = ex.synthetic_book(20_000, 10, seed=7)
        st.loans["plan"][:] = plan
        st.loans["offer_day"][:] = ex.DAY0
        out[plan] = ex.cure_probability(st, 30).mean()
    assert out[1] > out[0] * 1.2
    assert abs(out[2] - out[0]) < 1e-12


def test_each_agency_collects_at_its_own_rate() -> None:
    rates = {}
    for a in (0, 3, 4):  # AG01 (1.00), AG04 (1.45), AG05 (0.75)
        st = ex.synthetic_book(20_000, 100, seed=8)
        st.loans["agency"][:] = a
        st.loans["placed_on"][:] = ex.DAY0 - 1
        st.loans["period_end"][:] = ex.DAY0 + 120
        rates[AGENCY_IDS[a]] = ex.cure_probability(st, 30).mean()
    assert rates["AG04"] > rates["AG01"] > rates["AG05"]


def test_over_contact_lowers_satisfaction() -> None:
    scores = []
    for iavg in (0.5, 1.0, 3.0):
        st = ex.synthetic_book(20_000, 40, seed=9)
        n = len(st.loans["d0"])
        st.loans.update(
            ep_isum=np.full(n, iavg * 40), ep_days=np.full(n, 40), placements=np.zeros(n, int)
        )
        st.survey = {k: np.zeros(0, dtype=np.int64) for k in ("cust", "day", "score", "tod")}
        world.surveys_due(st, ex.DAY0, np.arange(n), np.random.default_rng(1))
        pending = st.survey["score"]  # surveys of today's cures arrive 1-10 days later
        assert len(pending) > 1_000
        scores.append(pending.mean())
    assert scores[0] > scores[1] > scores[2]


def test_disputes_are_resolved_over_time() -> None:
    st = ex.synthetic_book(10_000, 40, seed=10)
    st.borrowers["dispute_open"][:] = True
    st.borrowers["dispute_since"][:] = ex.DAY0
    st.borrowers["dispute"] = np.ones(10_000, dtype=bool)
    rng = np.random.default_rng(2)
    for k in range(1, 31):
        world.disputes(st, ex.DAY0 + k, rng)
    still = st.borrowers["dispute_open"].mean()
    expected = (1 - PARAMS.dispute_resolution_per_day) ** 30
    assert abs(still - expected) < 0.02
    assert (st.borrowers["dispute_since"] < BIG).all()

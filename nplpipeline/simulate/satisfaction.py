"""Customer surveys and complaints of customers in collection.

Scores respond to treatment (more contact, agency placement and visits lower them; a
flexible plan raises them), so satisfaction KPIs move with strategy as the plan expects.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .behaviour import Episodes
from .columns import ids, make_table, time_of_day, timestamps
from .config import DAY


def satisfaction(
    rng: np.random.Generator,
    ep: Episodes,
    actions: pa.Table,
    cust_ids_by_loan: pa.Array,
    chunk: int,
    end_day: int,
) -> pa.Table:
    n = ep.n
    end_excl = (end_day + 1) * DAY
    cured = np.isfinite(ep.cd)
    cd = np.where(cured, ep.cd, 10**6).astype(np.int64)
    # After a cure (15%) or during a long episode (5% of those reaching DPD 60).
    s1 = cured & (rng.random(n) < 0.25)
    x1 = cd + rng.integers(1, 11, size=n)
    s2 = ~s1 & (cd > 75) & (rng.random(n) < 0.05)
    x2 = rng.integers(60, 76, size=n)
    surveyed = s1 | s2
    x = np.where(s1, x1, x2)
    ts = (ep.d0 + x) * DAY + time_of_day(rng, n, 9, 20)
    e = np.flatnonzero(surveyed & (ts < end_excl))
    placed = (ep.place_dpd[e] > 0) & (x[e] > ep.place_dpd[e])
    intensity = 0.5 * (ep.i_early[e] + ep.i_mid[e])
    latent = (
        4.1
        - 0.45 * (intensity - 1.0)
        - 0.8 * placed
        - 0.3 * ep.visit[e]
        + 0.4 * ep.plan[e]
        - 0.4 * ~s1[e]
        + 0.8 * rng.standard_normal(len(e))
    )
    score = np.clip(np.round(latent), 1, 5).astype(np.int64)
    complaint = (score <= 2) & (rng.random(len(e)) < 0.35)

    # Complaints raised in contacts become complaint records without a score.
    is_c = pc.equal(actions["outcome"], "complaint").to_numpy(zero_copy_only=False)
    ci = np.flatnonzero(is_c & (rng.random(len(is_c)) < 0.5))
    c_ts = actions["action_at"].take(pa.array(ci)).cast(pa.int64()).to_numpy() + rng.integers(
        3600, 30 * 3600, len(ci)
    )
    c_keep = ci[c_ts < end_excl]
    c_ts = c_ts[c_ts < end_excl]

    cust = pa.concat_arrays(
        [
            cust_ids_by_loan.take(pa.array(ep.loan[e])),
            actions["customer_id"].combine_chunks().take(pa.array(c_keep)),
        ]
    )
    all_ts = np.concatenate([ts[e], c_ts])
    all_score = np.concatenate([score, np.zeros(len(c_keep), dtype=np.int64)])
    null_score = np.concatenate([np.zeros(len(e), dtype=bool), np.ones(len(c_keep), dtype=bool)])
    all_c = np.concatenate([complaint, np.ones(len(c_keep), dtype=bool)])
    order = np.lexsort((all_ts,))  # stable: ties keep generation order
    m = len(order)
    cols = {
        "survey_id": ids("S", chunk * 1_000_000_000 + np.arange(m), 13),
        "customer_id": cust.take(pa.array(order)),
        "surveyed_at": timestamps(all_ts[order]),
        "score": pa.array(all_score[order], mask=null_score[order]),
        "complaint": pa.array(all_c[order]),
    }
    return make_table("satisfaction", cols, all_ts[order] // DAY)

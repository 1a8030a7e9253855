"""Allocating accounts to agencies: a randomised share first, then a linear programme.

The optimisation of ``domain.md``::

    maximise   Σ_ia x_ia · (p_ia · B_i · (1 − c_ia) − k_a)
    subject to Σ_a x_ia ≤ 1                (each account placed at most once)
               Σ_i x_ia ≤ room_a           (monthly capacity not yet used this month)
               x_ia = 0 unless agency a is active, serves the account's province, never
                        held the account before, and the pair's value is positive
               0 ≤ x_ia ≤ 1

This is a transportation problem: its constraint matrix is totally unimodular, so the
LP optimum found by HiGHS at a vertex is integral. We round it and then assert every
constraint, rather than trust it.

**p_ia** (the estimated share of B_i agency a collects): the agency's liquidation rate
(amount-based, shrunk toward the pool, see ``liquidation``) scaled by the account's
model recovery probability relative to the mean over today's candidates, clipped to
[0, 1]. Over the candidates p_ia therefore averages the agency's measured rate, while
accounts the model rates as more recoverable are expected to yield more to every
agency. (The model is trained on in-house recoveries; the scaling assumes the ranking
carries over to agencies, which the randomised share lets us check.)

**c_ia** is the agency's commission rate plus the policy's uplift for the account's
placement number (second and third placements cost more).

**Randomised share.** ``ceil(share · min(placeable accounts, free room))`` accounts are
drawn first, in a hash order of (seed, as-of date, loan id), and each goes to an
agency drawn uniformly (again by hash) among its eligible agencies with room; an
account whose drawn agency filled up in the same round draws again. The draw is
deterministic: a rerun of the date draws the same accounts and agencies.

**Scale.** With total room K, only each agency's top-K accounts by value can appear in
an optimal solution (exchange argument: if account i outside agency a's top K were
placed with a, one of the top K is unplaced and swapping cannot lower the objective),
so the LP has at most K × agencies variables whatever the number of accounts. Up to
``LP_MAX_VARIABLES`` of them HiGHS solves it in a second or two. Beyond that (a large
portfolio on the first day of a month: 500k accounts, 140k free slots) HiGHS needs
minutes on these degenerate values, so the same optimum is reached by cycle
cancelling on the agencies' exchange graph (``exchange_assignment``, seconds); the
tests check both against each other and against brute force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import re

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from nplpipeline.act.placement.config import PlacementPolicy

LP_MAX_VARIABLES = 100_000
OPTIMISED = "optimised"
RANDOMISED = "randomised"
_SPLIT = re.compile(r"[,，、;]")
ALLOCATION_COLUMNS = (
    "loan_id",
    "agency_id",
    "allocation_method",
    "expected_liquidation",
    "commission_rate",
    "expected_net_recovery",
)


def served_provinces(provinces: object) -> frozenset[str]:
    """Provinces in an agency's comma list; empty means it serves everywhere."""
    if provinces is None or (isinstance(provinces, float) and math.isnan(provinces)):
        return frozenset()
    if provinces is pd.NA:
        return frozenset()
    return frozenset(p.strip() for p in _SPLIT.split(str(provinces)) if p.strip())


def eligibility(province: pd.Series, agencies: pd.DataFrame) -> np.ndarray:
    """(accounts × agencies) bool: active agencies serving the account's province.

    An account without a province can only go to agencies that serve everywhere.
    """
    prov = province.astype("string").str.strip().reset_index(drop=True)
    out = np.zeros((len(prov), len(agencies)), dtype=bool)
    active = agencies["active"].fillna(False).astype(bool).to_numpy()
    for j, served in enumerate(agencies["provinces"].map(served_provinces)):  # per agency
        if not active[j]:
            continue
        out[:, j] = True if not served else prov.isin(served).to_numpy(dtype=bool, na_value=False)
    return out


def monthly_room(agencies: pd.DataFrame, starts: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Per agency (in ``agencies`` order): monthly_capacity less the ``starts``
    (agency_id, start_date) that fall in the as-of date's calendar month, up to it."""
    start = pd.to_datetime(starts["start_date"]).dt.normalize()
    in_month = (start >= pd.Timestamp(as_of.replace(day=1))) & (start <= pd.Timestamp(as_of))
    used = starts.loc[in_month.to_numpy(), "agency_id"].astype(str).value_counts()
    used = used.reindex(agencies["agency_id"].astype(str)).fillna(0).to_numpy(np.int64)
    capacity = agencies["monthly_capacity"].fillna(0).to_numpy(np.int64)
    return np.maximum(capacity - used, 0)


def collection_probability(
    liquidation_rate: np.ndarray, recovery_probability: np.ndarray
) -> np.ndarray:
    """p_ia = clip(rate_a · prob_i / mean(prob), 0, 1); a missing probability counts as average."""
    prob = np.asarray(recovery_probability, dtype=float)
    mean = float(np.nanmean(prob)) if np.isfinite(prob).any() else float("nan")
    rel = prob / mean if mean > 0 else np.ones_like(prob)
    rel = np.where(np.isfinite(rel), rel, 1.0)
    return np.clip(rel[:, None] * np.asarray(liquidation_rate, dtype=float)[None, :], 0.0, 1.0)


def commission_matrix(
    base_rate: np.ndarray, placement_no: np.ndarray, policy: PlacementPolicy
) -> np.ndarray:
    """c_ia: the agency's rate plus the uplift for the account's placement number."""
    uplift = policy.uplift_for(placement_no)
    return np.clip(np.asarray(base_rate, float)[None, :] + uplift[:, None], 0.0, 1.0)


def placement_values(
    p: np.ndarray, balance: np.ndarray, commission: np.ndarray, fixed_cost: np.ndarray
) -> np.ndarray:
    """Expected net recovery p_ia · B_i · (1 − c_ia) − k_a per (account, agency)."""
    b = np.asarray(balance, dtype=float)[:, None]
    return p * b * (1.0 - commission) - np.asarray(fixed_cost, float)[None, :]


def _hash_key(policy: PlacementPolicy, as_of: dt.date) -> str:
    digest = hashlib.blake2b(f"{policy.seed}:{as_of.isoformat()}".encode(), digest_size=8)
    return digest.hexdigest()  # 16 characters, as pandas' siphash key needs


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: decorrelates the account × agency hash pairs."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _rank_within(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """0-based position of each element among earlier elements of its group."""
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - starts[groups[order]]
    return rank


def randomised_allocation(
    loan_ids: np.ndarray,
    agency_ids: np.ndarray,
    eligible: np.ndarray,
    room: np.ndarray,
    target: int,
    hash_key: str,
) -> np.ndarray:
    """Agency index per account (−1 = not drawn) for ``target`` random placements.

    Rounds are vectorised; each round either places everything it drew or fills at
    least one agency, so there are at most (agencies + 1) rounds.
    """
    n, n_ag = eligible.shape
    chosen = np.full(n, -1, dtype=np.int64)
    if target <= 0 or n == 0:
        return chosen
    acc_hash = pd.util.hash_array(np.asarray(loan_ids, dtype=object), hash_key=hash_key)
    ag_hash = pd.util.hash_array(np.asarray(agency_ids, dtype=object), hash_key=hash_key)
    room = np.asarray(room, dtype=np.int64).copy()
    pool = np.argsort(acc_hash, kind="stable")
    placed = 0
    while placed < target:
        pool = pool[(eligible[pool] & (room > 0)[None, :]).any(axis=1)]
        if len(pool) == 0:
            break
        batch, pool = pool[: target - placed], pool[target - placed :]
        open_ = eligible[batch] & (room > 0)[None, :]
        keys = _mix(acc_hash[batch][:, None] ^ ag_hash[None, :])
        keys = np.where(open_, keys, np.iinfo(np.uint64).max)
        pick = np.argmin(keys, axis=1)
        ok = _rank_within(pick, n_ag) < room[pick]
        chosen[batch[ok]] = pick[ok]
        room -= np.bincount(pick[ok], minlength=n_ag)
        placed += int(ok.sum())
        pool = np.concatenate([batch[~ok], pool])  # overflow draws again, keeping its turn
    return chosen


def _top_candidates(values: np.ndarray, allowed: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Allowed mask cut to each agency's top ``sum(room)`` accounts by value."""
    keep = allowed.copy()
    k = int(room.sum())
    for j in range(values.shape[1]):  # per agency
        rows = np.flatnonzero(keep[:, j])
        if room[j] <= 0:
            keep[:, j] = False
        elif len(rows) > k:
            top = rows[np.argpartition(-values[rows, j], k - 1)[:k]]
            keep[:, j] = False
            keep[top, j] = True
    return keep


def solve_assignment(values: np.ndarray, allowed: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Agency index per account (−1 = unplaced) maximising total value (the LP above).

    Up to ``LP_MAX_VARIABLES`` candidate pairs the LP is solved by HiGHS; above that the
    same optimum is reached by cycle cancelling on the agencies' exchange graph (see
    ``exchange_assignment``), which HiGHS needs minutes for at 500k accounts and 100k+
    free slots. Either way the constraints are asserted on the result.
    """
    n, _ = values.shape
    room = np.maximum(np.asarray(room, dtype=np.int64), 0)
    allowed = allowed & np.isfinite(values) & (values > 0)
    if n == 0 or room.sum() == 0 or not allowed.any():
        return np.full(n, -1, dtype=np.int64)
    keep = _top_candidates(values, allowed, room)
    if int(keep.sum()) <= LP_MAX_VARIABLES:
        out = lp_assignment(values, keep, room)
    else:
        out = exchange_assignment(values, keep, room)
    _assert_feasible(out, allowed, room)
    return out


def lp_assignment(values: np.ndarray, allowed: np.ndarray, room: np.ndarray) -> np.ndarray:
    """The transportation LP over the ``allowed`` pairs, solved by HiGHS and rounded."""
    n, n_ag = values.shape
    out = np.full(n, -1, dtype=np.int64)
    rows, cols = np.nonzero(allowed)  # row-major: sorted by account, then agency
    if len(rows) == 0:
        return out
    acc, acc_idx = np.unique(rows, return_inverse=True)
    n_var, n_acc = len(rows), len(acc)
    ones = np.ones(n_var)
    var = np.arange(n_var)
    a_ub = sparse.vstack(
        [
            sparse.csr_matrix((ones, (acc_idx, var)), shape=(n_acc, n_var)),
            sparse.csr_matrix((ones, (cols, var)), shape=(n_ag, n_var)),
        ],
        format="csr",
    )
    b_ub = np.concatenate([np.ones(n_acc), np.asarray(room, dtype=float)])
    x = _solve_lp(-values[rows, cols], a_ub, b_ub)
    take = x > 0.5
    out[rows[take]] = cols[take]
    return out


def _edge_gains(
    values: np.ndarray, allowed: np.ndarray, room: np.ndarray, assign: np.ndarray
) -> np.ndarray:
    """Best gain of each edge of the exchange graph: nodes are the agencies plus ``O``
    (outside: unplaced accounts and free slots), last.

    a→b: move an account from a to b; a→O: a leaves a slot free (0) or releases its
    worst account; O→b: b takes its best unplaced account, or gives up a slot (0).
    """
    n_ag = values.shape[1]
    w = np.full((n_ag + 1, n_ag + 1), -np.inf)
    load = np.bincount(assign[assign >= 0], minlength=n_ag)
    placed = assign >= 0
    for a in range(n_ag):  # per agency
        mine = np.flatnonzero(assign == a)
        if len(mine):
            cur = values[mine, a][:, None]
            delta = np.where(allowed[mine], values[mine] - cur, -np.inf)
            w[a, :n_ag] = delta.max(axis=0)
            w[a, n_ag] = -values[mine, a].min()
        if load[a] < room[a]:
            w[a, n_ag] = 0.0
        free = allowed[:, a] & ~placed
        best = values[free, a].max() if free.any() else -np.inf
        w[n_ag, a] = max(best, 0.0 if load[a] > 0 else -np.inf)
    np.fill_diagonal(w, -np.inf)
    return w


def _best_cycle(w: np.ndarray) -> list[int]:
    """A maximum-mean cycle of the small dense graph ``w`` (Karp), as its node list."""
    n = len(w)
    d = np.full((n + 1, n), -np.inf)
    d[0] = 0.0
    pred = np.zeros((n + 1, n), dtype=np.int64)
    for k in range(1, n + 1):  # per walk length (nodes are agencies, not accounts)
        cand = d[k - 1][:, None] + w
        pred[k] = np.argmax(cand, axis=0)
        d[k] = cand[pred[k], np.arange(n)]
    with np.errstate(invalid="ignore"):
        ks = np.arange(n)[:, None]
        means = (d[n][None, :] - d[:n]) / (n - ks)
        means = np.where(np.isfinite(d[:n]), means, np.inf).min(axis=0)
    means = np.where(np.isfinite(d[n]), means, -np.inf)
    v = int(np.argmax(means))
    if not np.isfinite(means[v]):
        return []
    walk = [v]
    for k in range(n, 0, -1):
        walk.append(int(pred[k, walk[-1]]))
    walk.reverse()
    seen: dict[int, int] = {}
    for j, node in enumerate(walk):
        if node in seen:
            return walk[seen[node] : j + 1]
        seen[node] = j
    return []


def _edge_candidates(
    values: np.ndarray,
    allowed: np.ndarray,
    room: np.ndarray,
    assign: np.ndarray,
    u: int,
    v: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every way of taking edge u→v, best first: (gains, account moved or −1)."""
    n_ag = values.shape[1]
    load = np.bincount(assign[assign >= 0], minlength=n_ag)
    if u < n_ag and v < n_ag:
        idx = np.flatnonzero((assign == u) & allowed[:, v])
        gain = values[idx, v] - values[idx, u]
        extra = 0
    elif v == n_ag:  # u leaves a slot free first, then releases its worst accounts
        idx = np.flatnonzero(assign == u)
        gain = -values[idx, u]
        extra = int(room[u] - load[u])
    else:  # O→v: v takes its best unplaced accounts first, then gives up slots
        idx = np.flatnonzero(allowed[:, v] & (assign < 0))
        gain = values[idx, v]
        extra = int(load[v])
    order = np.lexsort((idx, -gain))
    gain, idx = gain[order], idx[order]
    zeros, none = np.zeros(max(extra, 0)), np.full(max(extra, 0), -1, dtype=np.int64)
    if v == n_ag:
        return np.concatenate([zeros, gain]), np.concatenate([none, idx])
    return np.concatenate([gain, zeros]), np.concatenate([idx, none])


def exchange_assignment(
    values: np.ndarray, allowed: np.ndarray, room: np.ndarray, max_rounds: int = 100_000
) -> np.ndarray:
    """The LP's optimum by cycle cancelling, for many accounts and few agencies.

    Any improvement of an assignment is a cycle in the residual graph; with few agencies
    that graph compresses to agencies + ``O`` (each edge's weight = its best exchange),
    and an assignment is optimal exactly when no cycle has positive gain. Each round
    finds a maximum-mean cycle (Karp) and pushes as many units around it as stay
    profitable, each unit using the next-best account of every edge (distinct
    accounts, so the units do not interact). Work per round is O(accounts × agencies).
    """
    n, n_ag = values.shape
    room = np.asarray(room, dtype=np.int64)
    assign = np.full(n, -1, dtype=np.int64)
    tol = 1e-9 * (1.0 + float(np.abs(values[allowed]).max(initial=0.0)))
    for _ in range(max_rounds):
        cycle = _best_cycle(_edge_gains(values, allowed, room, assign))
        edges = list(itertools.pairwise(cycle))
        if not edges:
            return assign
        cands = [_edge_candidates(values, allowed, room, assign, u, v) for u, v in edges]
        units = min(len(g) for g, _ in cands)
        unit_gain = np.sum([g[:units] for g, _ in cands], axis=0)
        m = int(np.sum(unit_gain > tol))  # gains fall unit by unit: a prefix is positive
        if m == 0:
            return assign
        for (_, v), (_, idx) in zip(edges, cands, strict=True):
            moved = idx[:m]
            moved = moved[moved >= 0]
            assign[moved] = v if v < n_ag else -1
    raise RuntimeError("placement exchange did not converge")


def _solve_lp(cost: np.ndarray, a_ub: sparse.csr_matrix, b_ub: np.ndarray) -> np.ndarray:
    """HiGHS at a vertex, rounded; should it ever return a fractional point (a failed
    crossover), the dual simplex solves it again."""
    for method in ("highs", "highs-ds"):
        res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method=method)
        if res.status != 0:
            raise RuntimeError(f"placement LP failed ({method}): {res.message}")
        x = np.round(res.x)
        if np.abs(res.x - x).max(initial=0.0) <= 1e-6:
            return x
    raise RuntimeError("placement LP returned a fractional solution")


def _assert_feasible(assign: np.ndarray, allowed: np.ndarray, room: np.ndarray) -> None:
    placed = assign >= 0
    if not allowed[np.flatnonzero(placed), assign[placed]].all():
        raise AssertionError("an account was placed with an agency it is not eligible for")
    if (np.bincount(assign[placed], minlength=len(room)) > room).any():
        raise AssertionError("an agency was given more accounts than its room")


def allocate_accounts(
    accounts: pd.DataFrame,
    agencies: pd.DataFrame,
    policy: PlacementPolicy,
    as_of: dt.date,
    excluded: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Today's placements: one row per placed account (``ALLOCATION_COLUMNS``).

    ``accounts``: loan_id, balance, recovery_probability, province, placement_no.
    ``agencies``: agency_id, active, provinces, commission_rate, room (free capacity
    this month), liquidation_rate. ``excluded``: (loan_id, agency_id) pairs that may not
    be placed (the agency held the account before). Inputs are sorted by id first, so
    the result does not depend on row order.
    """
    acc = accounts.sort_values("loan_id", kind="stable").reset_index(drop=True)
    ag = agencies.sort_values("agency_id", kind="stable").reset_index(drop=True)
    loan_ids = acc["loan_id"].astype(str).to_numpy(dtype=object)
    agency_ids = ag["agency_id"].astype(str).to_numpy(dtype=object)

    eligible = eligibility(acc["province"], ag)
    if excluded is not None and not excluded.empty:
        r = pd.Index(loan_ids).get_indexer(excluded["loan_id"].astype(str))
        c = pd.Index(agency_ids).get_indexer(excluded["agency_id"].astype(str))
        hit = (r >= 0) & (c >= 0)
        eligible[r[hit], c[hit]] = False

    p = collection_probability(ag["liquidation_rate"].to_numpy(float), acc["recovery_probability"])
    commission = commission_matrix(
        ag["commission_rate"].to_numpy(float), acc["placement_no"].to_numpy(), policy
    )
    values = placement_values(
        p, acc["balance"].to_numpy(float), commission, policy.fixed_cost_for(agency_ids)
    )
    room = np.maximum(ag["room"].fillna(0).to_numpy(dtype=np.int64), 0)
    room = np.where(ag["active"].fillna(False).astype(bool).to_numpy(), room, 0)

    draw_ok = eligible & np.isfinite(values)
    if policy.randomised_requires_positive_value:
        draw_ok &= values > 0
    placeable = int((draw_ok & (room > 0)[None, :]).any(axis=1).sum())
    target = math.ceil(policy.randomised_share * min(placeable, int(room.sum())) - 1e-9)
    drawn = randomised_allocation(
        loan_ids, agency_ids, draw_ok, room, target, _hash_key(policy, as_of)
    )
    left = room - np.bincount(drawn[drawn >= 0], minlength=len(room))
    free = eligible & (drawn < 0)[:, None]
    optimised = solve_assignment(values, free, left)
    assign = np.where(drawn >= 0, drawn, optimised)

    rows = np.flatnonzero(assign >= 0)
    cols = assign[rows]
    return pd.DataFrame(
        {
            "loan_id": loan_ids[rows],
            "agency_id": agency_ids[cols],
            "allocation_method": np.where(drawn[rows] >= 0, RANDOMISED, OPTIMISED),
            "expected_liquidation": p[rows, cols],
            "commission_rate": np.round(commission[rows, cols], 6),
            "expected_net_recovery": np.round(values[rows, cols], 2),
        },
        columns=list(ALLOCATION_COLUMNS),
    )

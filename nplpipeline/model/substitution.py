"""The boosted model's reason-code kernel: "how much likelier to recover would this account
be if feature f had the training-typical value?", for every row and feature, in batches.

The answer is P(recovery | x with f := reference) - P(recovery | x). Computed naively
(`per_feature_impacts`) that is one full prediction per feature, each re-encoding the
frame and walking every tree: features x trees tree walks per row, ~1k rows/s with
45 features and 450 trees. `batched_impacts` gives the same numbers without walking a
tree again (`leaf_tables`):

- the frame is encoded once, and the rows are taken in batches (bounded memory);
- each tree becomes a lookup table: a row's left/right decisions at the tree's k split
  nodes, packed as the bits of one code, index the tree's 2^k leaf values;
- setting f to its reference changes only the bits of the nodes splitting on f, to the
  reference's own bits (two bit operations on the code), so every (row, tree splitting
  on f) pair costs one more lookup, all as array operations over the batch;
- the substituted raw score is the row's raw score plus, summed over the trees
  splitting on f, the new leaf value minus the old (exactly 0.0 where the leaf stays),
  then the same calibration as `predict_proba`.

Trees with more than `leaf_tables.MAX_SPLITS` (14) split nodes (max_leaf_nodes > 15)
keep the earlier kernel (`TreeSums.raw_with_references`): the trees that split on f are
re-walked by scikit-learn's compiled predictor, only for the rows whose value of f is on
the other side of one of the tree's thresholds on f from the reference.

Either way the result equals the per-feature substitution up to floating-point summation
order (tests compare them). Both read scikit-learn's tree predictors
(`HistGradientBoostingClassifier._predictors`, private in 1.9); models that do not
expose them, or were stored with a CalibratedClassifierCV, take the per-feature path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

from nplpipeline.model.boosting import BoostedRecoveryModel, _calibrated
from nplpipeline.model.leaf_tables import LeafTables, Substitution

BATCH_CELLS = 1 << 23  # rows x trees of per-tree contributions held at once (64 MB)
BATCH_ROWS = 2048  # rows per batch of the leaf-table kernel


def per_feature_impacts(model: BoostedRecoveryModel, X: pd.DataFrame) -> np.ndarray:
    """Reference method: one full prediction of the whole frame per feature."""
    features = list(model.feature_names_)
    base = X[features]
    p = model.predict_proba(base)[:, 1]
    out = np.zeros((len(X), len(features)))
    for j, f in enumerate(features):
        ref = model.reference_values_.get(f)
        if _no_reference(ref):
            continue
        out[:, j] = model.predict_proba(base.assign(**{f: ref}))[:, 1] - p
    return out


def batched_impacts(
    model: BoostedRecoveryModel, X: pd.DataFrame, batch_rows: int | None = None
) -> np.ndarray:
    """rows x features (order `feature_names_`): P(recovery) with the feature at its
    reference minus P(recovery) as is; 0 where the feature has no reference."""
    if not has_tree_predictors(model):
        return per_feature_impacts(model, X)
    codes, has_ref = _encoded_references(model)
    booster = model.booster_
    refs = booster._preprocess_X(np.where(has_ref, codes, np.nan)[None, :], reset=False)[0]
    Z = internal_matrix(model, X)
    order = column_order(model)
    tables = LeafTables.of(booster, Z.shape[1])
    with threadpool_limits(limits=model.n_threads, user_api="openmp"):
        if tables is None:
            internal = _walked_impacts(model, Z, refs, has_ref[order], batch_rows)
        else:
            internal = _table_impacts(model, Z, refs, has_ref[order], tables, batch_rows)
    out = np.empty_like(internal)
    out[:, order] = internal
    return out


def _table_impacts(
    model: BoostedRecoveryModel,
    Z: np.ndarray,
    refs: np.ndarray,
    has_ref: np.ndarray,
    tables: LeafTables,
    batch_rows: int | None,
) -> np.ndarray:
    """Impacts in booster column order, by leaf tables, a batch of rows at a time."""
    substitution = Substitution.of(tables, refs, np.flatnonzero(has_ref))
    cols = substitution.columns
    batch = batch_rows or BATCH_ROWS
    out = np.zeros(Z.shape)
    for start in range(0, len(Z) if len(cols) else 0, batch):
        raw, raw_sub = substitution.raw_scores(Z[start : start + batch])
        p_sub = probability(model, raw_sub.ravel()).reshape(raw_sub.shape)
        out[start : start + batch, cols] = (p_sub - probability(model, raw)).T
    return out


def _walked_impacts(
    model: BoostedRecoveryModel,
    Z: np.ndarray,
    refs: np.ndarray,
    has_ref: np.ndarray,
    batch_rows: int | None,
) -> np.ndarray:
    """Impacts in booster column order, re-walking the trees with scikit-learn's
    predictor (trees too large for leaf tables)."""
    trees = TreeSums.structure(model)
    batch = batch_rows or max(1024, BATCH_CELLS // max(len(trees.trees), 1))
    internal = np.zeros(Z.shape)
    for start in range(0, len(Z), batch):
        sums = TreeSums(model, Z[start : start + batch], trees)
        p = sums.probability(sums.raw)
        raw_sub = sums.raw_with_references(refs, has_ref)
        internal[start : start + batch] = (
            sums.probability(raw_sub.ravel()).reshape(raw_sub.shape) - p[:, None]
        )
    return internal


def internal_matrix(model: BoostedRecoveryModel, X: pd.DataFrame) -> np.ndarray:
    """The frame in the booster's own input space: its ordinal encoder recodes the
    categoricals and puts them first; the trees' feature indices refer to that order."""
    return model.booster_._preprocess_X(model.encoder_.transform(X), reset=False)


@dataclass(frozen=True)
class Trees:
    """A booster's trees and, per booster column, the trees splitting on it."""

    trees: list[object]
    uses: np.ndarray  # trees x columns
    thresholds: dict[int, np.ndarray]  # column -> sorted numeric thresholds, all trees
    order: np.ndarray  # feature index (feature_names_) of each booster column
    is_cat: np.ndarray  # booster column is categorical
    compact: list[tuple[object, np.ndarray, np.ndarray]]  # per tree: own columns only
    tree_thresholds: dict[tuple[int, int], np.ndarray]  # (tree, column) -> sorted thresholds


class TreeSums:
    """Per-tree raw contributions of one batch of rows (booster space), so that the raw
    score with one column replaced re-walks only the trees that split on that column,
    and only for rows whose value could take another branch."""

    def __init__(self, model: BoostedRecoveryModel, Z: np.ndarray, trees: Trees):
        booster = model.booster_
        self.model, self.Z, self.t = model, Z, trees
        self.known, self.f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
        self.n_threads = _openmp_effective_n_threads(model.n_threads)
        self.V = np.empty((len(Z), len(trees.trees)), order="F")  # a tree's column contiguous
        for i in range(len(trees.trees)):
            self.V[:, i] = self._tree(i, Z)
        self.raw = float(np.ravel(booster._baseline_prediction)[0]) + self.V.sum(axis=1)

    @staticmethod
    def structure(model: BoostedRecoveryModel) -> Trees:
        booster = model.booster_
        trees = [iteration[0] for iteration in booster._predictors]
        n = len(model.feature_names_)
        order = column_order(model)
        if getattr(booster, "_preprocessor", None) is None:
            is_cat = np.zeros(n, dtype=bool)
        else:
            is_cat = np.asarray(booster.is_categorical_, dtype=bool)[order]
        _, f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
        uses = np.zeros((len(trees), n), dtype=bool)
        found: dict[int, list[np.ndarray]] = {}
        per_tree: dict[tuple[int, int], np.ndarray] = {}
        compact = []
        for i, tree in enumerate(trees):
            nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
            cols = nodes["feature_idx"].astype(np.int64)
            uses[i, cols] = True
            for c in np.unique(cols):
                thr = nodes["num_threshold"][cols == c]
                found.setdefault(int(c), []).append(thr)
                per_tree[(i, int(c))] = np.sort(thr)
            compact.append(_compact(tree, np.unique(cols), f_idx_map))
        thresholds = {c: np.sort(np.concatenate(v)) for c, v in found.items()}
        return Trees(trees, uses, thresholds, order, is_cat, compact, per_tree)

    def _tree(self, i: int, Z: np.ndarray) -> np.ndarray:
        return self.t.trees[i].predict(Z, self.known, self.f_idx_map, self.n_threads)

    def _changed(self, col: int, values: np.ndarray | float) -> np.ndarray:
        """Rows where `values` can take another branch than the column's own value: a
        node sends x left iff x <= threshold, so two values with as many thresholds
        below them go the same way at every node; missing goes one way. Categoricals:
        another code."""
        z = self.Z[:, col]
        v = np.broadcast_to(np.asarray(values, dtype=np.float64), z.shape)
        both_missing = np.isnan(z) & np.isnan(v)
        one_missing = np.isnan(z) != np.isnan(v)
        thr = self.t.thresholds.get(col)
        if self.t.is_cat[col] or thr is None:
            return ~both_missing & (one_missing | (z != v))
        cells_differ = np.searchsorted(thr, z, side="left") != np.searchsorted(thr, v, "left")
        return one_missing | (~both_missing & cells_differ)

    def raw_with(self, col: int, values: np.ndarray | float) -> np.ndarray:
        """Raw scores with booster column `col` set to `values` (scalar or per row)."""
        raw = self.raw.copy()
        trees_c = np.flatnonzero(self.t.uses[:, col])
        rows = np.flatnonzero(self._changed(col, values)) if len(trees_c) else []
        if not len(rows):
            return raw
        Zc = self.Z[rows]
        Zc[:, col] = values if np.ndim(values) == 0 else np.asarray(values)[rows]
        old, new = np.zeros(len(rows)), np.zeros(len(rows))
        for i in trees_c:  # same order both sides: unchanged leaves give delta 0.0
            old += self.V[rows, i]
            new += self._tree(i, Zc)
        raw[rows] += new - old
        return raw

    def raw_with_references(self, refs: np.ndarray, has_ref: np.ndarray) -> np.ndarray:
        """rows x columns: raw scores with column c set to refs[c] (where has_ref[c]).

        Tree by tree: a tree is re-walked, through a copy of the tree that reads only
        its own columns, for each of its columns with a reference, and only for the
        rows on the other side of one of its thresholds on that column from the
        reference (a range of the rows sorted by the column), or missing."""
        k = self.Z.shape[1]
        raw_sub = np.asfortranarray(np.repeat(self.raw[:, None], k, axis=1))
        sorted_by = {c: self._sorted(c, refs[c]) for c in np.flatnonzero(has_ref)}
        for i, (predictor, cols, f_idx_map) in enumerate(self.t.compact):
            targets = [j for j, c in enumerate(cols) if has_ref[c]]
            if not targets:
                continue
            Zt = np.ascontiguousarray(self.Z[:, cols])
            before = self.V[:, i]
            for j in targets:
                c = int(cols[j])
                rows = self._rows_to_walk(i, c, refs[c], sorted_by[c])
                if not len(rows):
                    continue
                Zc = Zt[rows]
                Zc[:, j] = refs[c]
                new = predictor.predict(Zc, self.known, f_idx_map, self.n_threads)
                raw_sub[rows, c] += new - before[rows]  # unchanged leaf: adds 0.0
        return raw_sub

    def _sorted(self, col: int, value: float) -> tuple[np.ndarray, ...]:
        """(the column contiguous, its missing mask, rows whose code is not `value`)."""
        z = np.ascontiguousarray(self.Z[:, col])
        missing = np.isnan(z)
        other = np.flatnonzero(z != value) if self.t.is_cat[col] else np.flatnonzero(~missing)
        return z, missing, other

    def _rows_to_walk(
        self, tree: int, col: int, value: float, by: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Rows (in row order: gathers read memory in sequence) that some split of the
        tree on `col` may send another way than `value`: another code (categoricals);
        outside the cell (a, b] of the tree's thresholds holding `value`, or missing."""
        z, missing, other = by
        if self.t.is_cat[col] or np.isnan(value):  # missing rows go value's way already
            return other
        thr = self.t.tree_thresholds[(tree, col)]
        k = np.searchsorted(thr, value, side="left")  # thresholds below value
        outside = missing.copy()
        if k > 0:
            outside |= z <= thr[k - 1]
        if k < len(thr):
            outside |= z > thr[k]
        return np.flatnonzero(outside)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated P(recovery) of raw scores, as `predict_proba` gives it."""
        return probability(self.model, raw)


def probability(model: BoostedRecoveryModel, raw: np.ndarray) -> np.ndarray:
    """The calibrated P(recovery) of raw scores, as `predict_proba` gives it."""
    method = model.resolved_["calibration"]
    return np.clip(_calibrated(method, model.calibrator_, raw), 0.0, 1.0)


def column_order(model: BoostedRecoveryModel) -> np.ndarray:
    """Feature index (`feature_names_`) of each booster column: the booster's
    preprocessor puts the categoricals first."""
    booster = model.booster_
    n = len(model.feature_names_)
    if getattr(booster, "_preprocessor", None) is None:
        return np.arange(n)
    cat = np.asarray(booster.is_categorical_, dtype=bool)
    return np.concatenate([np.flatnonzero(cat), np.flatnonzero(~cat)])


def _compact(
    tree: object, cols: np.ndarray, f_idx_map: np.ndarray
) -> tuple[object, np.ndarray, np.ndarray]:
    """The tree as a predictor reading only `cols` (its split columns, sorted), and its
    categorical-bitset map for those columns: walking it on a copy of k columns costs a
    copy of k columns, not of all of them."""
    nodes = tree.nodes.copy()
    inner = nodes["is_leaf"] == 0
    nodes["feature_idx"][inner] = np.searchsorted(cols, nodes["feature_idx"][inner])
    predictor = TreePredictor(nodes, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets)
    return predictor, cols.astype(np.int64), np.ascontiguousarray(f_idx_map[cols])


def _no_reference(ref: object) -> bool:
    return ref is None or (isinstance(ref, float) and np.isnan(ref))


def has_tree_predictors(model: BoostedRecoveryModel) -> bool:
    booster = getattr(model, "booster_", None)
    return (
        not isinstance(getattr(model, "calibrator_", None), CalibratedClassifierCV)
        and hasattr(booster, "_predictors")
        and hasattr(booster, "_bin_mapper")
        and getattr(booster, "n_trees_per_iteration_", 0) == 1
    )


def _encoded_references(model: BoostedRecoveryModel) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's reference as the encoder codes it, and whether it has one (a
    categorical mode unknown to the encoder codes as NaN = missing, as it would when
    encoded with the frame)."""
    enc = model.encoder_
    codes = np.full(len(model.feature_names_), np.nan)
    has = np.zeros(len(model.feature_names_), dtype=bool)
    for j, f in enumerate(model.feature_names_):
        ref = model.reference_values_.get(f)
        if _no_reference(ref):
            continue
        has[j] = True
        if f in enc.categorical_features_:
            levels = enc.levels_[f]
            codes[j] = float(levels.index(str(ref))) if str(ref) in levels else np.nan
        else:
            codes[j] = float(ref)
    return codes, has

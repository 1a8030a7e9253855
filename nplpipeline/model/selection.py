"""Choosing the champion among the candidates on validation rows the test never sees.

Choosing by the out-of-time test AUC would make the test a selection set and its AUC
optimistic. Instead every candidate is fit on the earlier part of the training period
and judged on its latest dates (`selection.validation_share` of rows); undated data get
stratified folds of the training rows (small public sets: one holdout of a few hundred
rows is too noisy to choose on). The served models are then refit on all training rows.

The booster's final fit already holds these rows out: its calibration slice is the
latest `calibration_share` of training rows, scored by a booster grown only on the rows
before them. When that slice is exactly the validation slice, its raw scores are the
booster's validation scores (`held_out`) instead of a second booster grown for selection
on the same rows (three of the run's six booster fits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nplpipeline.model import candidates, metrics
from nplpipeline.model.boosting import HeldOut, latest_dates_mask
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.frame import FeatureSpec
from nplpipeline.model.split import stratified_folds

LATEST_DATES = "latest_dates"
STRATIFIED_FOLDS = "stratified_folds"


@dataclass(frozen=True)
class Selection:
    chosen: str
    method: str  # LATEST_DATES, STRATIFIED_FOLDS, or "only_candidate"
    folds: int
    validation_rows: int
    auc: dict[str, float]  # mean validation AUC per candidate (NaN: could not be fit)
    errors: dict[str, str] = field(default_factory=dict)
    margin: dict[str, float] = field(default_factory=dict)  # AUC it may trail the best by
    held_out: tuple[str, ...] = ()  # validated on their final fit's held-out scores

    def params(self) -> dict[str, str]:
        return {
            "selection.method": self.method,
            "selection.folds": str(self.folds),
            "selection.validation_rows": str(self.validation_rows),
            "selection.chosen": self.chosen,
            "selection.held_out_scores": ",".join(self.held_out) or "none",
        }


def validation_masks(
    y: np.ndarray, dates: pd.Series | None, config: ModelConfig
) -> tuple[str, list[np.ndarray]]:
    """The validation rows of each selection fit (True = judged, False = fit)."""
    sel = config.selection
    if dates is not None:
        return LATEST_DATES, [latest_dates_mask(len(y), dates.to_numpy(), sel.validation_share)]
    folds = min(sel.folds, int(np.bincount(y, minlength=2).min()))
    if folds < 2:
        raise ValueError("too few rows of one class to choose a champion on folds")
    fold = stratified_folds(y, folds, config.seed)
    return STRATIFIED_FOLDS, [fold == k for k in range(folds)]


def choose(
    train: pd.DataFrame,
    y: np.ndarray,
    dates: pd.Series | None,
    spec: FeatureSpec,
    config: ModelConfig,
    held_out: Mapping[str, HeldOut | None] | None = None,
) -> Selection:
    """Mean validation AUC per candidate; the first candidate (simplest first) within
    the margin of the best is chosen (see `_best`). `held_out`: scores a candidate's
    final fit made of rows it held out (see the module docstring), used where they are
    exactly the validation rows."""
    names = list(config.selection.candidates)
    if len(names) == 1:
        return Selection(names[0], "only_candidate", 0, 0, {names[0]: math.nan})
    method, masks = validation_masks(y, dates, config)
    reuse = reusable_scores(held_out or {}, method, masks)
    scores: dict[str, list[np.ndarray]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    for val in masks:
        fit_rows, val_rows = train.loc[~val], train.loc[val]
        fit_dates = None if dates is None else dates.loc[~val]
        for name in names:
            if name in errors:
                continue
            if name in reuse:
                scores[name].append(reuse[name])
                continue
            try:
                model = candidates.fit(
                    candidates.build(name, spec, config), fit_rows, y[~val], fit_dates
                )
            except ValueError as exc:  # e.g. too few dates for the booster's slices
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            scores[name].append(model.predict_proba(val_rows)[:, 1])
    ys = [y[val] for val in masks]
    auc = {
        n: float(np.mean([metrics.auc(v, p) for v, p in zip(ys, s, strict=True)]))
        if s and n not in errors
        else math.nan
        for n, s in scores.items()
    }
    chosen, margin = _best(auc, scores, ys, names, config)
    return Selection(
        chosen,
        method,
        len(masks),
        int(sum(int(m.sum()) for m in masks)),
        auc,
        errors,
        margin,
        tuple(n for n in names if n in reuse),
    )


def reusable_scores(
    held_out: Mapping[str, HeldOut | None], method: str, masks: list[np.ndarray]
) -> dict[str, np.ndarray]:
    """Held-out scores that are validation scores: one time-ordered validation slice,
    and a final fit that held out exactly its rows (so the model that scored them was
    grown only on the rows the other candidates are fit on for selection)."""
    if method != LATEST_DATES or len(masks) != 1:
        return {}
    return {
        n: h.raw for n, h in held_out.items() if h is not None and np.array_equal(h.mask, masks[0])
    }


def _best(
    auc: dict[str, float],
    scores: dict[str, list[np.ndarray]],
    ys: list[np.ndarray],
    order: list[str],
    config: ModelConfig,
) -> tuple[str, dict[str, float]]:
    """The first candidate in `order` whose mean validation AUC is within its margin of
    the best: `tie_margin`, or `se_multiplier` standard errors of its paired difference
    to the best (DeLong per validation slice, averaged over slices), whichever is wider.
    A one-standard-error rule: a more complex model has to beat a simpler one by more
    than the validation rows can tell apart (on 150-row folds that is ~0.01 AUC, on the
    pipeline's 10k-row slice ~0.002). Returns the chosen name and each margin."""
    finite = {n: a for n, a in auc.items() if math.isfinite(a)}
    if not finite:
        raise ValueError("no candidate could be validated; see the selection errors")
    sel = config.selection
    top = max(finite, key=lambda n: (finite[n], -order.index(n)))
    margin: dict[str, float] = {}
    for n in finite:
        var = [
            metrics.auc_difference_variance(v, a, b)
            for v, a, b in zip(ys, scores[top], scores[n], strict=True)
        ]
        se = math.sqrt(np.nansum(var)) / len(var) if n != top else 0.0
        margin[n] = max(sel.tie_margin, sel.se_multiplier * se)
    return next(n for n in order if n in finite and finite[n] >= finite[top] - margin[n]), margin

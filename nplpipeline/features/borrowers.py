"""Borrower attributes per loan: age band on the as-of date, income band, job, province.

Why no flags: flags such as deceased, bankruptcy or vulnerable are set *after* events
that also stop recovery, often recorded late; even read as of the date from the
customers' history they say more about what happened next than about the borrower. They
are therefore not features; the suppression step reads the flags valid on the day.

What is used, and how safe it is:
- age band from birth_date: immutable, exactly point-in-time (age on the as-of date);
- province, employment_type, monthly_income: the feature stage passes customers as they
  stood on the latest as-of date it builds (``staging.stg_customers_as_of``); within a
  multi-date build they are taken from that row whatever its
  updated_at (``FeatureConfig.static_customer_attributes``). The contract carries no
  history for them; treating them as static is an assumption a lender with frequent
  income or job updates should switch off (drop them from that setting).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.delinquency.coerce import MISSING_DAY, to_arrow_strings, to_epoch_days
from nplpipeline.delinquency.encode import KeyIndex
from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.schema import MISSING


class BorrowerAttributes:
    """Customer columns gathered per loan position once; banded per as-of date."""

    def __init__(
        self, customers: pd.DataFrame | None, loans: pd.DataFrame, config: FeatureConfig
    ) -> None:
        n = len(loans)
        self.config = config
        self.birth_day = np.full(n, MISSING_DAY, dtype=np.int64)
        self.income = np.full(n, np.nan)
        self.employment = pd.Series([None] * n, dtype=object)
        self.province = pd.Series([None] * n, dtype=object)
        if customers is None or customers.empty:
            return
        customers = customers.sort_values("updated_at", kind="stable").drop_duplicates(
            "customer_id", keep="last"
        )
        index = KeyIndex(to_arrow_strings(customers["customer_id"]))
        pos = index.positions(to_arrow_strings(loans["customer_id"]))
        found = pos >= 0
        take = pos[found]
        self.birth_day[found] = to_epoch_days(customers["birth_date"])[take]
        static = set(config.static_customer_attributes)
        if "income" in static:
            income = pd.to_numeric(customers["monthly_income"]).to_numpy(
                dtype=float, na_value=np.nan
            )
            self.income[found] = income[take]
        if "employment_type" in static:
            self.employment[found] = customers["employment_type"].to_numpy(dtype=object)[take]
        if "province" in static:
            self.province[found] = customers["province"].to_numpy(dtype=object)[take]

    def frame(self, rows: np.ndarray, as_of_day: int) -> dict[str, np.ndarray]:
        """Attributes of the loans at positions ``rows`` on the as-of day."""
        cfg = self.config
        birth = self.birth_day[rows]
        known = birth != MISSING_DAY
        age = np.where(known, (as_of_day - np.where(known, birth, 0)) / 365.2425, np.nan)
        return {
            "age_band": _band(age, cfg.age_band_edges, cfg.age_band_labels, below=True),
            "income_band": _band(
                self.income[rows], cfg.income_band_edges, cfg.income_band_labels, below=False
            ),
            "employment_type": self.employment.to_numpy()[rows],
            "province": self.province.to_numpy()[rows],
        }


def _band(
    values: np.ndarray, edges: tuple[float, ...], labels: list[str], below: bool
) -> np.ndarray:
    """Label of the band each value falls in; MISSING for NaN (and below the first edge
    when there is no "below" band)."""
    idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="right") - 1
    if below:
        idx = idx + 1  # labels[0] is the "below the first edge" band
        valid = ~np.isnan(values)
    else:
        valid = ~np.isnan(values) & (idx >= 0)
    names = np.array([*labels, MISSING], dtype=object)
    return names[np.where(valid, idx, len(labels))]

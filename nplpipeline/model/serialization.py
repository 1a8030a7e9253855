"""The one list of types a stored model may contain.

Models are saved with skops and loaded only with this list, fixed in our code -- never the
list a model artifact carries about itself (a crafted artifact could whitelist anything),
and never pickle. A new estimator class that needs more types fails at log time
(`mlflow.sklearn` re-loads with this list) and must be added here in review.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TRUSTED_TYPES: list[str] = [
    "nplpipeline.model.scorecard.WoEScorecard",
    "nplpipeline.model.boosting.BoostedRecoveryModel",
    "nplpipeline.model.encoding.FrameEncoder",
    # Boosters stored before the time-ordered refit (boosting.py) keep a
    # CalibratedClassifierCV: registry champions must stay loadable.
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",  # calibration: sigmoid
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # HistGradientBoosting keeps `functools.partial(check_array, ...)`; skops checks the
    # wrapped function separately, so trusting `partial` does not trust arbitrary callables.
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


@contextmanager
def quiet_module_scan() -> Iterator[None]:
    """skops finds a function's module by probing every imported module for its name;
    inside Airflow that touches each deprecated lazy alias, and each one warns (over a
    thousand log lines per save). The probe is harmless: silence exactly those."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r"The `airflow\.", category=DeprecationWarning)
        yield


def dump(model: Any, path: str | Path) -> None:
    import skops.io

    with quiet_module_scan():
        skops.io.dump(model, path)


def load(path: str | Path) -> Any:
    """Load a skops file with our trusted list; raises on any other type."""
    import skops.io

    with quiet_module_scan():
        return skops.io.load(path, trusted=TRUSTED_TYPES)

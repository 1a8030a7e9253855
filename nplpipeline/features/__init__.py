"""Point-in-time features and recovery labels for the risk model.

One row per delinquent account per as-of date, built only from data known on that
date (see ``build.py``); the label looks forward over a horizon (see ``labels.py``).
"""

from nplpipeline.features.build import build_features
from nplpipeline.features.config import FeatureConfig, load_feature_config
from nplpipeline.features.labels import label_accounts
from nplpipeline.features.schema import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMNS,
    LABEL_COLUMN,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_COLUMNS",
    "ID_COLUMNS",
    "LABEL_COLUMN",
    "FeatureConfig",
    "build_features",
    "label_accounts",
    "load_feature_config",
]

"""Loading a validated configuration model from YAML, the one way every stage does it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_yaml_model(
    model: type[ModelT], path: str | Path | None = None, env_var: str | None = None
) -> ModelT:
    """Defaults of ``model``, overridden by the YAML at ``path`` or ``$env_var`` when set.

    Validation is strict where the model forbids extra keys, so a typo fails at load
    time with the field's path rather than silently falling back to a default.
    """
    path = path or (os.environ.get(env_var) if env_var else None) or None
    if not path:
        return model()
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return model.model_validate(raw)

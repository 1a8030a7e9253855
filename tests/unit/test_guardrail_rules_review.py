"""Rules of domain.md's fair-collection section that had no enforcement or no test.

- Field visits go out with at least two staff: the strategy policy refuses a YAML that
  staffs a visit alone, and the audit breaches a scheduled visit without two different
  collectors.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pydantic import ValidationError

from nplpipeline.act.guardrail_audit import audit_worklist
from nplpipeline.act.guardrails_config import STRICTEST
from nplpipeline.config.policy import load_policy
from nplpipeline.config.strategy import StrategyPolicy

RUN = dt.date(2026, 3, 10)


def test_a_policy_that_sends_one_person_on_a_visit_fails_at_load():
    spec = load_policy().strategies.model_dump()
    assert spec["channels"]["visit"]["staff"] >= 2
    StrategyPolicy.model_validate(spec)  # the shipped policy passes
    spec["channels"]["visit"]["staff"] = 1
    with pytest.raises(ValidationError, match=r"visit\.staff"):
        StrategyPolicy.model_validate(spec)


def _items(second: list[object]) -> pd.DataFrame:
    n = len(second)
    return pd.DataFrame(
        {
            "item_id": [f"I{i}" for i in range(n)],
            "loan_id": [f"C{i}-L0" for i in range(n)],
            "customer_id": [f"C{i}" for i in range(n)],
            "channel": "visit",
            "earliest_local_time": "08:00:00",
            "latest_local_time": "21:00:00",
            "assignee_id": ["F1"] * n,
            "second_assignee_id": second,
            "remaining_call_attempts": pd.NA,
        }
    )


def _customers(n: int) -> pd.DataFrame:
    flags = {f: False for f in STRICTEST.suppress_flags}
    return pd.DataFrame(
        [
            {"customer_id": f"C{i}", "timezone": "Asia/Shanghai", "phone": None, **flags}
            for i in range(n)
        ]
    )


def test_the_audit_breaches_a_visit_without_two_different_collectors():
    history = pd.DataFrame(
        columns=[
            "loan_id",
            "customer_id",
            "action_at",
            "channel",
            "performed_by",
            "outcome",
            "ptp_date",
        ]
    )
    items = _items(["F2", None, "F1"])
    audit = audit_worklist(items, _customers(3), history, RUN, STRICTEST)
    assert audit.breaches == {"field_visit:two_staff": ["I1", "I2"]}
    assert audit.checked["field_visit:two_staff"] == 3
    ok = audit_worklist(_items(["F2"]), _customers(1), history, RUN, STRICTEST)
    assert ok.ok

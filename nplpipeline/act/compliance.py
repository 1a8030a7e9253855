"""The daily compliance report: per rule, what the guardrails decided and what the
independent audit found on the scheduled worklist (``act_compliance_report``).

Counts only -- no loan, customer or number ever appears -- so the report can go to a
compliance officer's BI tool and the dashboard as it is.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from nplpipeline.act.guardrail_audit import AuditResult

REPORT_COLUMNS = [
    "as_of_date",
    "rule",
    "policy",
    "candidates_checked",
    "allowed",
    "suppressed",
    "scheduled_audited",
    "audit_breaches",
    "audit_result",
]


def compliance_rows(
    checks: pd.DataFrame, audit: AuditResult, as_of: date, policy_name: str
) -> pd.DataFrame:
    """One row per rule the guardrails or the audit know of, with both sides' counts."""
    audited = pd.DataFrame(
        {
            "rule": list(audit.checked),
            "scheduled_audited": list(audit.checked.values()),
            "audit_breaches": [len(audit.breaches.get(r, [])) for r in audit.checked],
        }
    )
    for rule, ids in audit.breaches.items():  # a breach of a rule the tally lacks
        if rule not in audit.checked:
            audited.loc[len(audited)] = [rule, len(ids), len(ids)]
    guard = checks.groupby("rule", sort=False, as_index=False)[
        ["candidates_checked", "allowed", "suppressed"]
    ].sum()
    out = guard.merge(audited, on="rule", how="outer")
    counts = ["candidates_checked", "allowed", "suppressed", "scheduled_audited", "audit_breaches"]
    out[counts] = out[counts].fillna(0).astype("int64")
    result = pd.Series("pass", index=out.index)
    result[~out["rule"].isin(list(audit.checked) + list(audit.breaches))] = "not_audited"
    result[out["audit_breaches"] > 0] = "breach"
    out["audit_result"] = result
    out["as_of_date"] = as_of
    out["policy"] = policy_name
    return out[REPORT_COLUMNS].sort_values("rule").reset_index(drop=True)

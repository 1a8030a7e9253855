"""What a worklist item looks like when it leaves the system: an explicit allow-list.

The CRM holds the customer master (names, national ids, phone numbers, addresses) and
joins on ``customer_id``, so none of those are sent: only the columns listed in
``FIELDS`` leave, in the files and in the REST payload alike. A column added to
``act_worklist`` later stays home until someone adds it here (and to
``docs/crm-payload.md``) on purpose.

Values are converted to JSON-safe, unambiguous forms: money as a decimal *string* with
two places (no binary floating-point drift), dates ``YYYY-MM-DD``, instants ISO-8601 UTC
with ``Z``, local clock times ``HH:MM:SS``, missing values ``null``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

Kind = Literal["string", "int", "money", "bool", "date", "time", "timestamp"]

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PayloadField:
    name: str
    kind: Kind
    required: bool
    doc: str


FIELDS: tuple[PayloadField, ...] = (
    PayloadField("item_id", "string", True, "Stable id of the contact for (date, loan, channel)."),
    PayloadField("loan_id", "string", True, "The loan to collect on."),
    PayloadField("customer_id", "string", True, "Join key to the CRM's customer master."),
    PayloadField("tier", "string", True, "mild | severe | extremely_severe (policy tiers)."),
    PayloadField("tier_label_zh", "string", False, "The tier's Chinese label, e.g. 极重度."),
    PayloadField("channel", "string", True, "sms, call, ivr, app_push, email, letter, visit, ..."),
    PayloadField("queue", "string", True, "Collector id, or 'auto:<channel>' for automation."),
    PayloadField("assignee_id", "string", False, "Collector assigned to the contact."),
    PayloadField("assignee_team", "string", False, "The assignee's team."),
    PayloadField("second_assignee_id", "string", False, "Second collector (visits in pairs)."),
    PayloadField("queue_rank", "int", True, "Order within the queue; 1 = work first."),
    PayloadField("timezone", "string", True, "Debtor's IANA time zone."),
    PayloadField("earliest_local_time", "time", True, "Allowed contact window start (local)."),
    PayloadField("latest_local_time", "time", True, "Allowed contact window end (local)."),
    PayloadField("window_start_utc", "timestamp", False, "Today's contact window start, UTC."),
    PayloadField("window_end_utc", "timestamp", False, "Today's contact window end, UTC."),
    PayloadField("remaining_call_attempts", "int", False, "Calls still allowed by the caps."),
    PayloadField("dpd", "int", True, "Days past due on the as-of date."),
    PayloadField("overdue_amount", "money", True, "Amount overdue, loan currency."),
    PayloadField("offer_type", "string", False, "flexible_plan | hardship_assessment."),
    PayloadField("offer_instalments", "int", False, "Instalments of the offered plan."),
    PayloadField("offer_instalment_amount", "money", False, "Amount of each offered instalment."),
    PayloadField("offer_first_due_date", "date", False, "First due date of the offered plan."),
    PayloadField("legal_ready", "bool", True, "The account may be referred to legal."),
    PayloadField("reason_1", "string", False, "Top reason for the score, in a collector's words."),
    PayloadField("reason_2", "string", False, "Second reason."),
    PayloadField("reason_3", "string", False, "Third reason."),
    PayloadField("nba_treatment", "string", False, "Learned next-best-action (uplift policy)."),
    PayloadField("nba_uplift", "money", False, "Its estimated net gain over the tier policy."),
    PayloadField("nba_reason_1", "string", False, "Top reason for the next-best-action."),
    PayloadField("nba_reason_2", "string", False, "Second reason."),
    PayloadField("nba_reason_3", "string", False, "Third reason."),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, PayloadField] = {f.name: f for f in FIELDS}

# act_worklist columns that deliberately stay home, and why (for the docs and reviewers).
WITHHELD: dict[str, str] = {
    "as_of_date": "sent once per batch, not per item",
    "strategy_arm": "champion/challenger/control must stay blind to collectors",
    "expected_recovery": "model economics; queue_rank already carries the order",
    "effort": "internal cost model",
    "value_per_effort": "internal cost model",
    "model_version": "lineage stays in the warehouse",
}

_ARROW: dict[Kind, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "money": pa.decimal128(18, 2),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "time": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _utc(value: Any) -> dt.datetime:
    """An instant in UTC; naive values are UTC already (that is how the warehouse stores them)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _clock(value: Any) -> str:
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    text = str(value).strip()
    return text + ":00" if len(text) == 5 else text


def coerce(kind: Kind, value: Any) -> Any:
    """One warehouse value as the Python type the Arrow schema (and the JSON) expects."""
    if _missing(value):
        return None
    if kind == "string":
        return str(value)
    if kind == "int":
        return int(value)
    if kind == "money":
        return Decimal(str(value)).quantize(_CENT)
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return pd.Timestamp(value).date()
    if kind == "time":
        return _clock(value)
    return _utc(value)


def arrow_schema() -> pa.Schema:
    """The typed shape of an exported worklist (``as_of_date`` first, then ``FIELDS``)."""
    return pa.schema(
        [pa.field("as_of_date", pa.date32(), nullable=False)]
        + [pa.field(f.name, _ARROW[f.kind], nullable=not f.required) for f in FIELDS]
    )


def worklist_table(as_of: dt.date, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Allow-listed columns of worklist rows as a typed Arrow table (other keys are dropped)."""
    rows = list(rows)
    columns: dict[str, list[Any]] = {"as_of_date": [as_of] * len(rows)}
    for f in FIELDS:
        columns[f.name] = [coerce(f.kind, row.get(f.name)) for row in rows]
    return pa.Table.from_pydict(columns, schema=arrow_schema())


def _json_value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "money":
        return f"{value:.2f}"
    if kind == "date":
        return value.isoformat()
    if kind == "timestamp":
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def items(table: pa.Table) -> list[dict[str, Any]]:
    """JSON-safe payload items, keys in ``FIELDS`` order (the table's other columns omitted)."""
    records = table.select(list(FIELD_NAMES)).to_pylist()
    return [{f.name: _json_value(f.kind, rec[f.name]) for f in FIELDS} for rec in records]


def item_json(item: Mapping[str, Any]) -> str:
    """Canonical JSON text of one item: the same item always gives the same bytes."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def unknown_fields(item: Mapping[str, Any]) -> Sequence[str]:
    """Keys that are not on the allow-list (what a CRM must refuse)."""
    return sorted(set(item) - set(FIELD_NAMES))

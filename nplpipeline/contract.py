"""The source data contract (``shared/docs/data-contract.md``) as typed, importable data.

Every stage that touches source data -- the simulator that writes it, the ingest that
reads it, the validation suites that check it -- takes column names, keys, types and PII
flags from here, so the contract is stated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

FieldType = Literal["string", "int", "decimal", "bool", "date", "timestamp"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    required: bool = True  # column must be present in every drop
    nullable: bool = True
    pii: bool = False


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    version_column: str | None = "updated_at"  # latest value wins on upsert

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    @property
    def pii_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.pii]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")


def _f(name: str, type_: FieldType, **kw: bool) -> Field:
    return Field(name, type_, **kw)


CUSTOMERS = Entity(
    "customers",
    key=("customer_id",),
    fields=(
        _f("customer_id", "string", nullable=False),
        _f("full_name", "string", pii=True),
        _f("national_id", "string", pii=True),
        _f("phone", "string", pii=True),
        _f("birth_date", "date"),
        _f("province", "string"),
        _f("city", "string"),
        _f("timezone", "string"),
        _f("monthly_income", "decimal"),
        _f("employment_type", "string"),
        _f("do_not_contact", "bool"),
        _f("deceased", "bool"),
        _f("bankruptcy", "bool"),
        _f("dispute_open", "bool"),
        _f("vulnerable", "bool"),
        _f("updated_at", "timestamp", nullable=False),
    ),
)

LOANS = Entity(
    "loans",
    key=("loan_id",),
    fields=(
        _f("loan_id", "string", nullable=False),
        _f("customer_id", "string", nullable=False),
        _f("product", "string", nullable=False),
        _f("origination_date", "date", nullable=False),
        _f("principal_amount", "decimal", nullable=False),
        _f("annual_interest_rate", "decimal", nullable=False),
        _f("term_months", "int", nullable=False),
        _f("currency", "string"),
        _f("status", "string", nullable=False),
        _f("updated_at", "timestamp", nullable=False),
    ),
)

INSTALLMENTS = Entity(
    "installments",
    key=("loan_id", "installment_no"),
    fields=(
        _f("loan_id", "string", nullable=False),
        _f("installment_no", "int", nullable=False),
        _f("due_date", "date", nullable=False),
        _f("principal_due", "decimal", nullable=False),
        _f("interest_due", "decimal", nullable=False),
        _f("fee_due", "decimal", nullable=False),
    ),
    version_column=None,  # the schedule has no timestamp: the latest drop wins
)

REPAYMENTS = Entity(
    "repayments",
    key=("repayment_id",),
    fields=(
        _f("repayment_id", "string", nullable=False),
        _f("loan_id", "string", nullable=False),
        _f("paid_at", "timestamp", nullable=False),
        _f("amount", "decimal", nullable=False),
        _f("reversal_of", "string"),
        _f("channel", "string"),
        _f("agency_id", "string"),
        _f("collector_id", "string"),
        _f("updated_at", "timestamp", nullable=False),
    ),
)

COLLECTION_ACTIONS = Entity(
    "collection_actions",
    key=("action_id",),
    fields=(
        _f("action_id", "string", nullable=False),
        _f("loan_id", "string", nullable=False),
        _f("customer_id", "string", nullable=False),
        _f("action_at", "timestamp", nullable=False),
        _f("channel", "string", nullable=False),
        _f("performed_by", "string"),
        _f("outcome", "string"),
        _f("ptp_amount", "decimal"),
        _f("ptp_date", "date"),
        _f("recorded", "bool"),
        # Optional extension: the offer made in the contact (e.g. flexible_plan).
        _f("offer", "string", required=False),
    ),
    version_column=None,  # contact history is append-only
)

AGENCIES = Entity(
    "agencies",
    key=("agency_id",),
    fields=(
        _f("agency_id", "string", nullable=False),
        _f("name", "string"),
        _f("commission_rate", "decimal", nullable=False),
        _f("monthly_capacity", "int", nullable=False),
        _f("provinces", "string"),
        _f("active", "bool", nullable=False),
    ),
    version_column=None,
)

COLLECTORS = Entity(
    "collectors",
    key=("collector_id",),
    fields=(
        _f("collector_id", "string", nullable=False),
        _f("team", "string"),
        _f("role", "string", nullable=False),
        _f("daily_capacity", "int", nullable=False),
        _f("active", "bool", nullable=False),
    ),
    version_column=None,
)

SATISFACTION = Entity(
    "satisfaction",
    key=("survey_id",),
    fields=(
        _f("survey_id", "string", nullable=False),
        _f("customer_id", "string", nullable=False),
        _f("surveyed_at", "timestamp", nullable=False),
        _f("score", "int"),
        _f("complaint", "bool", nullable=False),
    ),
    version_column=None,
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        CUSTOMERS,
        LOANS,
        INSTALLMENTS,
        REPAYMENTS,
        COLLECTION_ACTIONS,
        AGENCIES,
        COLLECTORS,
        SATISFACTION,
    )
}

# Allowed values the contract names (value sets for validation and the simulator).
# Parents before children, so referential checks see them: the order drops are loaded
# and written in (ingest, simulator, twin, their DAGs).
LOAD_ORDER: tuple[str, ...] = (
    "agencies",
    "collectors",
    "customers",
    "loans",
    "installments",
    "repayments",
    "collection_actions",
    "satisfaction",
)

PRODUCTS = ("cash_loan", "installment", "credit_card", "bnpl")
LOAN_STATUSES = ("active", "closed", "charged_off", "written_off", "sold")
EMPLOYMENT_TYPES = ("salaried", "self_employed", "student", "unemployed", "retired", "other")
REPAYMENT_CHANNELS = ("app", "bank_transfer", "collector", "agency", "legal", "other")
ACTION_CHANNELS = ("sms", "call", "ivr", "app_push", "email", "letter", "visit", "legal", "agency")
ACTION_OUTCOMES = (
    "delivered",
    "no_answer",
    "right_party_contact",
    "wrong_party",
    "promise_to_pay",
    "refused",
    "dispute",
    "complaint",
    "paid",
)
COLLECTOR_ROLES = ("call", "field", "legal")

# --- Contact vocabulary ---------------------------------------------------------------
# One definition of each counted contact, used by the guardrails, the facts and the marts
# alike (domain.md, "Counting, as the rules mean it"). Predicates take the
# ``collection_actions`` columns ``channel`` and ``outcome`` and return boolean masks.

# A *call attempt* is any placed call, by an agent or automated (Reg F counts every one).
CALL_CHANNELS: tuple[str, ...] = ("call", "ivr")
# Channels on which a conversation can take place in person or by voice.
VOICE_CHANNELS: tuple[str, ...] = (*CALL_CHANNELS, "visit")
# A call with one of these outcomes was not answered. Any other outcome -- including a
# missing one -- counts as *connected*, so an unrecorded outcome never frees a slot.
UNCONNECTED_OUTCOMES: tuple[str, ...] = ("no_answer",)
# A *conversation* (a *right-party contact*) is a connected contact with the debtor,
# whatever came of it, including a payment taken on the call.
CONVERSATION_OUTCOMES: tuple[str, ...] = (
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute",
    "complaint",
    "paid",
)
RIGHT_PARTY_OUTCOMES = CONVERSATION_OUTCOMES
WRONG_PARTY_OUTCOME = "wrong_party"
PROMISE_OUTCOME = "promise_to_pay"
DISPUTE_OUTCOME = "dispute"
COMPLAINT_OUTCOME = "complaint"
PAID_OUTCOME = "paid"


def is_call_attempt(channel: pd.Series) -> pd.Series:
    """Any placed call (agent or IVR): the denominator of the right-party-contact rate."""
    return channel.isin(CALL_CHANNELS).fillna(False).astype(bool)


def is_connected_call(channel: pd.Series, outcome: pd.Series) -> pd.Series:
    """A call attempt that was answered (by anyone); a missing outcome counts as answered."""
    answered = ~outcome.isin(UNCONNECTED_OUTCOMES).fillna(False).astype(bool)
    return is_call_attempt(channel) & answered


def is_right_party_call(channel: pd.Series, outcome: pd.Series) -> pd.Series:
    """A call attempt that reached the debtor: the numerator of the right-party-contact rate.

    It is a subset of the call attempts, so the rate lies in [0, 1].
    """
    return is_call_attempt(channel) & outcome.isin(CONVERSATION_OUTCOMES).fillna(False).astype(bool)


def is_conversation(channel: pd.Series, outcome: pd.Series) -> pd.Series:
    """A voice contact (call, IVR or visit) with the debtor, whatever came of it."""
    voice = channel.isin(VOICE_CHANNELS).fillna(False).astype(bool)
    return voice & outcome.isin(CONVERSATION_OUTCOMES).fillna(False).astype(bool)

"""Staging: typed, as-of readers over the raw layer, one per source entity.

Like a dbt project's staging models, every stage reads the raw tables through these
instead of projecting them itself, and always "as of D": loans and customers from their
SCD2 history (the version valid at the end of D), events (repayments, contacts,
surveys) dated on or before D. Contact rows carry the contract's vocabulary
(call attempt, connected, conversation, right party, promise, complaint) as flags.
"""

from nplpipeline.staging.arrears import stg_arrears_candidates
from nplpipeline.staging.asof import day_end
from nplpipeline.staging.contacts import (
    CONTACT_COLUMNS,
    stg_contact_frame,
    stg_contact_history,
    stg_contact_history_select,
    stg_contacted_loan_ids,
    stg_standing_contacts,
)
from nplpipeline.staging.entities import (
    CUSTOMER_COLUMNS,
    LOAN_COLUMNS,
    loan_customer_ids,
    status_on,
    stg_customers_as_of,
    stg_loan_status_history,
    stg_loans_as_of,
)
from nplpipeline.staging.reference import (
    stg_agencies,
    stg_collectors,
    stg_installments,
    stg_satisfaction,
    stg_satisfaction_select,
)
from nplpipeline.staging.repayments import (
    REPAYMENT_COLUMNS,
    stg_repayments,
    stg_repayments_select,
    stg_signed_repayments,
)

__all__ = [
    "CONTACT_COLUMNS",
    "CUSTOMER_COLUMNS",
    "LOAN_COLUMNS",
    "REPAYMENT_COLUMNS",
    "day_end",
    "loan_customer_ids",
    "status_on",
    "stg_agencies",
    "stg_arrears_candidates",
    "stg_collectors",
    "stg_contact_frame",
    "stg_contact_history",
    "stg_contact_history_select",
    "stg_contacted_loan_ids",
    "stg_customers_as_of",
    "stg_installments",
    "stg_loan_status_history",
    "stg_loans_as_of",
    "stg_repayments",
    "stg_repayments_select",
    "stg_satisfaction",
    "stg_satisfaction_select",
    "stg_signed_repayments",
    "stg_standing_contacts",
]

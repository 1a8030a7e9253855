"""The CRM delivery ledger: what was planned for the CRM, in which batch, and what it acked.

One row per (as_of_date, item_id). A row is written when its item is planned into a
batch (with the exact payload that batch will carry, so a resend is byte-identical) and
updated once, when the CRM acknowledges the batch. It is the outbox of the outbox
pattern: the CRM push reads only rows with ``acknowledged_at`` still empty. An item the
CRM refuses on its own leaves the ledger for ``act_crm_rejections``.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import metadata

crm_delivery_ledger = sa.Table(
    "act_crm_delivery_ledger",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("item_id", sa.String(), primary_key=True),
    sa.Column("batch_no", sa.Integer(), nullable=False),  # 1, 2, ... per as-of date
    sa.Column("batch_key", sa.String(), nullable=False),  # the Idempotency-Key sent
    sa.Column("planned_at", sa.DateTime(), nullable=False),  # UTC
    sa.Column("acknowledged_at", sa.DateTime()),  # UTC; empty = not yet acked by the CRM
    sa.Column("attempts", sa.Integer(), nullable=False),  # HTTP requests for its batch
    sa.Column("crm_receipt", sa.String()),  # the CRM's receipt for the batch
    sa.Column("payload", sa.String(), nullable=False),  # the item's JSON, frozen at planning
)

sa.Index(
    "ix_act_crm_delivery_ledger_batch",
    crm_delivery_ledger.c.as_of_date,
    crm_delivery_ledger.c.batch_no,
)

delivery_ledger = crm_delivery_ledger  # the shorter name other modules import

# Items the CRM refused on their own (a 4xx for a batch of that one item, found by
# splitting the rejected batch): the CRM's reason as a code and at most a field *name*,
# never a value. One row per refused version of an item (``payload_sha256``): the item
# stays out of delivery until its worklist row changes, then it is planned anew.
crm_rejections = sa.Table(
    "act_crm_rejections",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("item_id", sa.String(), primary_key=True),
    sa.Column("payload_sha256", sa.String(), primary_key=True),  # the refused payload
    sa.Column("batch_key", sa.String(), nullable=False),  # the one-item batch refused
    sa.Column("http_status", sa.Integer(), nullable=False),
    sa.Column("error_code", sa.String()),  # the CRM's code, e.g. invalid_value
    sa.Column("error_field", sa.String()),  # the field it named, e.g. customer_id
    sa.Column("attempts", sa.Integer(), nullable=False),  # requests of its one-item batch
    sa.Column("rejected_at", sa.DateTime(), nullable=False),  # UTC
)

"""Getting decisions out: file bundles to an outbox, and the CRM push with its ledger."""

"""Row-level contract checks: every row either loads or is quarantined with its reasons."""

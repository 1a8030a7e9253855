"""Acting on scores: building worklists that respect fair-collection rules."""

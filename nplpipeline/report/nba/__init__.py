"""The learned policy's arm (issue #15) against the static tier policy and the status quo."""

"""Scoring and tiering: the champion's recovery probability, its reasons, and the plan's tier."""

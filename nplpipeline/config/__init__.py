"""Declarative policies (buckets, waterfall, ...) with validated schemas."""

from nplpipeline.config.policy import (
    Bucket,
    DelinquencyPolicy,
    Policy,
    load_policy,
)

__all__ = ["Bucket", "DelinquencyPolicy", "Policy", "load_policy"]

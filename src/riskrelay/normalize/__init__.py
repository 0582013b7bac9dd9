"""Validate and normalize decoded input records into canonical events (pure functions)."""

from riskrelay.normalize.dispatch import normalize
from riskrelay.normalize.secrets import without_secrets

__all__ = ["normalize", "without_secrets"]

"""Validate and normalize decoded input records into canonical events (pure functions)."""

from riskrelay.normalize.dispatch import normalize

__all__ = ["normalize"]

"""The enrichment stage: stateless signals computed from one event (``stateless``) and
subject-profile signals computed from the subject's history (``profile``)."""

from riskrelay.enrich.stateless import EnrichOptions, enrich, for_analytics

__all__ = ["EnrichOptions", "enrich", "for_analytics"]

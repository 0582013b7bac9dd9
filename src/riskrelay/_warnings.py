"""Silences a third-party warning that is not ours to act on."""

from __future__ import annotations

import warnings


def silence_registry_client_warning() -> None:
    """confluent_kafka's registry client imports authlib's httpx integration, which warns
    on every start. authlib installs an "always" filter for its warnings when imported, so
    it is imported first and ours goes in front of it."""
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")

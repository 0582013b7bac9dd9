"""Delivery to providers: one adapter and one lane per provider.

- ``providers/``: adapters (what a provider takes, the pure mapping, its auth headers);
- ``http.py``: one pooled client per provider, one classified attempt per call;
- ``lane.py``: the per-provider delivery policy around it — concurrency slots
  (``asyncio.Semaphore``), rate limit (``ratelimit.py``), circuit breaker (``breaker.py``)
  and the retry loop (``retry.py``), configured by ``policy.py`` from settings;
- ``dispatcher.py``: ``build_provider`` and the fan-out of one event to its providers.

No aiohttp exception leaves this package: failures become ``TransientDeliveryError``
(worth retrying), ``CredentialsError`` (401/403: wait, do not dead-letter) or
``PermanentDeliveryError`` (this event is refused) at the boundary.
"""

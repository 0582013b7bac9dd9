"""Delivery to providers: one HTTP client per provider, retries, per-provider adapters.

No aiohttp exception leaves this package: failures become ``TransientDeliveryError``
(worth retrying) or ``PermanentDeliveryError`` (this event is refused) at the boundary.
"""

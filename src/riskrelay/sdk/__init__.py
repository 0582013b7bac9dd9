"""What upstream services use to publish events to riskrelay."""

from riskrelay.sdk.producer import EventProducer

__all__ = ["EventProducer"]

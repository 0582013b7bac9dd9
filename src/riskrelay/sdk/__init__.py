"""What upstream services use to publish events to riskrelay: typed event models (from
the Avro contracts) and a producer that validates, encodes and publishes them."""

from riskrelay.errors import BrokerError, ValidationError
from riskrelay.sdk.models import (
    EvaluationEvent,
    InputEvent,
    LifecycleEvent,
    PaymentEvent,
)
from riskrelay.sdk.producer import Delivery, EventProducer, Published

__all__ = [
    "BrokerError",
    "Delivery",
    "EvaluationEvent",
    "EventProducer",
    "InputEvent",
    "LifecycleEvent",
    "PaymentEvent",
    "Published",
    "ValidationError",
]

"""riskrelay: a Kafka pipeline that carries risk events to fraud-prevention providers."""

__version__ = "0.1.0"

__all__ = ["__version__"]

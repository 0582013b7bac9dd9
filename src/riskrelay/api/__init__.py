"""The HTTP API: event reads with the locked/updated contract, health and metrics."""

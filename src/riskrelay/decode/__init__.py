"""Stage 1: bytes in the Confluent wire format to records (and back, for outputs)."""

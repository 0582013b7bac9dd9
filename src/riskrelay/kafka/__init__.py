"""Everything that talks to Kafka: client configuration, topics, the embedded broker."""

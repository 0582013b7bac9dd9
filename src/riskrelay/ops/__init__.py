"""Operations behind the CLI: topic inspection, schema registration and compatibility,
the dead-letter queue. Each module keeps its decisions in pure functions (what drifted,
what is compatible, which records a filter selects) and its I/O at the edges, so the CLI
in ``riskrelay.cli.ops`` only parses options and prints."""

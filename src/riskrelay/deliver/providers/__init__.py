"""One adapter per provider: what it takes, how it maps (pure), how it authenticates."""

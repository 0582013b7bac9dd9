"""How records are scheduled: per-subject order with concurrency, and which offsets are
safe to commit."""

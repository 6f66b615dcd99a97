"""One training engine for every model: seeded, checkpointed, resumable, best-val selecting."""

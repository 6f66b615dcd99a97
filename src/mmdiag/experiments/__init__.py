"""Experiments: turning config + cache + split into trained runs with metrics and provenance."""

"""Audit: the append-only, hash-chained record of everything that happened."""

"""Changing the address on record: confirmed from both addresses, refused during an open incident, and
the previous address kept so that it can still report (docs/data-rights.md)."""

"""The root of every error that is an outcome of the service's rules, not a fault.

A service raises a subclass (one family per domain: `TokenError`, `CustomerError`, `CaseworkError`,
`PolicyError`, ...) when a request cannot be done as asked; an edge catches the specific ones it can
explain to a person, with a translated message, and lets everything else be a fault (500, logged).
Programming mistakes (an unknown token purpose, a naive datetime) stay ValueError.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse; the message is for logs and operators, never shown as it is."""

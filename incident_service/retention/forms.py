"""The retention page's form (the legal hold forms are the incident page's: console.forms)."""

from __future__ import annotations

from ..forms import Form


class PreviewForm(Form):
    """No fields: the CSRF token of the "what would be removed now" button."""

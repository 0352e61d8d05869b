"""Signed webhooks: other systems subscribe to what happens here and are told, at least once (DESIGN "Webhooks")."""

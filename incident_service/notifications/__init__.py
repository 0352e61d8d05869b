"""Notifications: emails queued in the outbox with the change that caused them, and their delivery."""

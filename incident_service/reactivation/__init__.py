"""Reactivation: locking the old password, reset grants and links, and setting a new password."""

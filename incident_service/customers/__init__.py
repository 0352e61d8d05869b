"""Customers: account holders whose passwords this service reactivates."""

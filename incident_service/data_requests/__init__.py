"""Customers' data requests: access, correction and erasure, tracked to a due date and answered by staff."""

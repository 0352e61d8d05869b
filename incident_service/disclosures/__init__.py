"""The disclosure register: every handing-out of customers' personal data beyond the customer and support."""

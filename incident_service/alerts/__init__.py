"""Staff alerts: email to the security team about what needs a person (new incidents, undelivered
email, quarantined mail, the 72-hour breach clock, disabled webhooks), through the outbox."""

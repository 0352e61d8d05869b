"""The staff console: the queue, incident pages, actions, quarantine, staff admin and the audit log."""

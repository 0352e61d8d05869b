"""Email intake: the SMTP/LMTP listener and mailbox import, storing raw mail as evidence first."""

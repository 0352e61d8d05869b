"""Staff accounts: support, legal and admin users of the console, with passwords and TOTP."""

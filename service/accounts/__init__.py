"""Accounts with mandatory 2FA: passwords, TOTP, recovery codes, and their orchestration."""

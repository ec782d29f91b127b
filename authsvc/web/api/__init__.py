"""The JSON skin: one module of handlers per subject (auth, mfa, passkeys, users, mail, admin, ops)."""

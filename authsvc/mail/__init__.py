"""Mail: the outbox, its background sender, the transports (log, SMTP), the templates, and the account flows that
send mail (email verification, password reset, security notifications)."""

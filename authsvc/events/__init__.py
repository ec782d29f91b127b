"""The audit trail: every security-relevant change and decision as a stored event; no aiohttp but handlers.py."""

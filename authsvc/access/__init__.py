"""Access rules (issue 25): access_control compiled once, a decision per request. Knows nothing of HTTP."""

"""Logins, as one use case (Kratos' selfservice/flow/login): the flow, its strategies, its hooks, its outcomes.

Drawn above auth and mail, which it composes (sessions, factors and passkeys; the address gate and the new-device
notice): inside auth it could not call mail, which imports auth. Nothing here knows HTTP.
"""

"""Attempt rules (like Authelia's regulation/): the login throttle and the token buckets, used by auth and mail;
their one port, the attempt counter. Nothing here knows HTTP."""

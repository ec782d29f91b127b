"""The operators' package: the admin service, its tokens and its storage port; no aiohttp."""

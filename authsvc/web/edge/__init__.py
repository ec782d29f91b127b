"""The HTTP edge: middlewares, bodies, cookies, guards, views and the end of a login, shared by the API and pages."""

"""Everything HTTP: the app, the gateway's fast path and listener, serving; the edge, the JSON API and the pages."""

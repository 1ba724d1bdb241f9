"""Shared process settings and factories used by the loader, the graph and the server."""

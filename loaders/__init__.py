"""Ingest a folder of course materials into the course store, incrementally."""

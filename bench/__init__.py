"""Benchmarks of the project's own code paths (retrieval quality and latency); importable by tests."""

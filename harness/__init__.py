"""Real servers for the integration tests and the benchmarks (not part of the installed product)."""

"""Real servers and a real browser for the integration tests and the benchmarks (not part of the installed
product)."""

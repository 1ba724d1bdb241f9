"""Benchmarks of the project's own code paths: retrieval quality and latency, answers and honesty, the model
server, ingest, install, load and the web pages. Each runs as a program (`python -m bench.<name>`) and starts
its servers through harness/; tests never import bench/, nor bench/ tests."""

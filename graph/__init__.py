"""The tutor graph: route → retrieve → grade → rewrite → generate."""

from graph.graph import create_graph, graph

__all__ = ["create_graph", "graph"]

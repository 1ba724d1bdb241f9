"""The tutor graph: route → retrieve → grade → rewrite → generate; and the runnables that serve it (runnable.py,
chat_runnable.py)."""

from graph.graph import create_graph, graph

__all__ = ["create_graph", "graph"]

"""The tutor graph: route → retrieve → grade → rewrite → generate."""

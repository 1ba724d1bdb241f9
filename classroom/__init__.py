"""The course as taught: the interaction log (every answer and its feedback) and the instructor's reports on it.

Beside graph/ and loaders/: it imports core/ only, and server/ wires it to routes.
"""

"""The course as taught: the interaction log (every answer and its feedback) and the instructor's reports on it.

Above graph/ and loaders/: it imports core/, and graph/runnable.py's `Answered` (what the runnable tells of each
answer); server/ wires it to routes.
"""

"""Prompt text only. Written for a 135M-parameter model first: short, explicit, one task per prompt.

The grader and the generator share the same opening (system text + notes + question) and differ only in
the task that follows, so llama.cpp reuses that prefix instead of re-reading the notes.
"""

SYSTEM_PROMPT = (
    "You are AI Mentor, a helpful Python tutor. "
    "Answer using only the course notes you are given. Keep it short and correct."
)

CONTEXT_TEMPLATE = """Course notes:
{excerpts}

Question: {question}
"""

GRADE_TASK = """For {notes}, answer yes if the note helps answer the question, no if it is about something else.
Reply with JSON."""

GENERATE_TASK = "Answer in 2 sentences, using only the notes:"

REWRITE_PROMPT = """Rewrite this search query so it finds the right passage in Python course notes.
Use other, more specific words. Reply with the new query only, on one line.

Question: {question}
Previous query: {query}
New query:"""

CONDENSE_PROMPT = """Rewrite the student's last message as one standalone question that makes sense without
the conversation. Keep names and terms. Reply with the question only.

Conversation:
{history}

Last message: {question}
Standalone question:"""

CHAT_SYSTEM_PROMPT = (
    "You are AI Mentor, a friendly tutor. You answer questions about the student's course materials, "
    "with citations. Reply to the student in one or two short sentences."
)

NOT_COVERED = (
    "I couldn't find this in the course materials, so I won't guess. "
    "Try rephrasing, or ask about a topic the course covers."
)
CLOSEST_SOURCES = "The closest material I found:"

"""Prompt text only. Written for a 135M-parameter model first: short, explicit, one task per prompt.

No prompt names a subject: `{course}` is filled from the COURSE_NAME / COURSE_DESCRIPTION settings, so a biology
course gets a biology tutor. The grader and the generator share the same opening (system text + notes +
question) and differ only in the task that follows, so llama.cpp reuses that prefix instead of re-reading it.
"""

from __future__ import annotations

from core.settings import Settings

SYSTEM_PROMPT = (
    "You are AI Mentor, a helpful tutor for the course {course}. "
    "Answer using only the course notes you are given. Keep it short and correct."
)

CONTEXT_TEMPLATE = """Course notes:
{excerpts}

Question: {question}
"""

GRADE_TASK = """For {notes}, answer yes if the note helps answer the question, no if it is about something else.
Reply with JSON."""

GENERATE_TASK = "Answer in 2 sentences, using only the notes:"

REWRITE_PROMPT = """Rewrite this search query so it finds the right passage in the notes of the course {course}.
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
    "You are AI Mentor, a friendly tutor for the course {course}. You answer questions about the student's "
    "course materials, with citations. Reply to the student in one or two short sentences."
)

# Replies to thanks, goodbyes and "got it", written here, not by the model: fixed, instant, and never wander.
CLOSINGS = {
    "thanks": "You're welcome! Ask me anything else about {course} whenever you like.",
    "bye": "Goodbye, and good luck with {course}!",
    "ack": "Glad that helped. Ask me anything else about {course}.",
}

NOT_COVERED = (
    "I couldn't find this in the course materials, so I won't guess. "
    "Try rephrasing, or ask about a topic the course covers."
)
CLOSEST_SOURCES = "The closest material I found:"
EXTRACTIVE_INTRO = "Here is what the course materials say:"
# HINTS_FIRST: an exercise's solution answers the question; the exercise comes back first.
EXERCISE_INTRO = (
    "This is an exercise in your course materials: try it yourself first. Ask for the solution when you want it."
)
SOLUTION_INTRO = "Here is the solution in your course materials:"


def course(settings: Settings) -> str:
    """`Introduction to Python (a beginner's programming course: …)`."""
    name = settings.course_name.strip() or "this course"
    return f"{name} ({settings.course_description.strip()})" if settings.course_description.strip() else name

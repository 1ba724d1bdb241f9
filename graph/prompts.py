"""Prompt text only. Written for a 135M-parameter model first: short, explicit, one task per prompt.

Everything goes in the user turn (no system message), so chat formats that drop system messages
(llama-cpp-python's mistral-instruct) still see it. The grader and the generator share the same
opening (instructions + excerpts + question), so llama.cpp reuses that prefix instead of re-reading it.
"""

CONTEXT_PROMPT = """You are AI Mentor, a patient tutor for a programming course.
Use only the course excerpts below. Do not use outside knowledge.

Course excerpts:
{excerpts}

Question: {question}
"""

GRADE_TASK = """Task: decide which excerpts contain information that helps answer the question.
Reply with JSON only, like {{"relevant": [1, 3]}}. Use {{"relevant": []}} if none of them help."""

GENERATE_TASK = """Task: answer the question for a student in 2 to 5 sentences, using only the excerpts.
After each fact, cite its excerpt number in brackets, like [1].
If the excerpts do not answer the question, say: "The course materials don't cover this." """

REWRITE_PROMPT = """Rewrite the search query so it finds the right passage in Python course notes.
Use different, more specific words. Reply with the new query only, on one line.

Question: {question}
Previous query: {query}
New query:"""

CONDENSE_PROMPT = """Rewrite the student's last message as one standalone question that makes sense
without the conversation. Keep names and terms. Reply with the question only.

Conversation:
{history}

Last message: {question}
Standalone question:"""

CHAT_PROMPT = """You are AI Mentor, a friendly tutor that answers questions about the student's course
materials with citations. Reply briefly (1 to 3 sentences) to the student's message below.
If they ask what you can do, say you answer questions about their course materials.

Student: {question}"""

NOT_COVERED = (
    "I couldn't find this in the course materials, so I won't guess. "
    "Try rephrasing, or ask about a topic the course covers."
)
CLOSEST_SOURCES = "The closest material I found:"

"""What the pages show, as safe HTML: answers and course files rendered and sanitised on the server.

Beside graph/ and loaders/: it imports core/ and loaders/ only, and server/ serves what it makes.
"""

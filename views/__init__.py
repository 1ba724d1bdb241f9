"""What the pages show, as safe HTML: answers and course files rendered and sanitised on the server, and the
signed, expiring links that open a cited file (files.py).

Beside graph/ and loaders/: it imports core/ and loaders/ only, and server/ serves what it makes.
"""

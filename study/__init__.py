"""Study mode: quiz items built from the course files, graded by code, scheduled for review (issue 29)."""

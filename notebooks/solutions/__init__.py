"""Worked solutions of the lessons' exercises (graded by notebooks/graders.py; tests/test_exercises.py)."""

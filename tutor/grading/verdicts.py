"""The verdicts a blank can get and how each shows beside it: one list for the grader, the app and the
command line (light: the app imports it before numpy is loaded)."""

from __future__ import annotations

# correct: right; incorrect: runs but gives the wrong thing; error: cannot run (syntax, forbidden,
# crash, time, memory); missing: no answer yet; unjudged: answered, but no run reached it.
MARKS = {"correct": "✓", "incorrect": "✗", "missing": "·", "error": "!", "unjudged": "?"}


class Cancelled(Exception):
    """A grading cancelled before it ended (a newer check replaced it, or the learner pressed escape):
    the one exception the grader and the app raise and catch for it."""

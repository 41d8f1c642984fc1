"""One base for every error a user can cause and fix.

Its message says what is wrong and what to do. The CLI and the web page catch `InquireError` (and
OSError, for files the user named) and show the message; anything else is a bug and shows as one.
Each stage's own errors (NoteError, IndexMissing, JudgeUnavailable, ...) subclass it beside the stage;
`UserError` is the one general class for input the faces refuse (a question, a note, a file, a batch line).
"""


class InquireError(Exception):
    """A problem to show the user as is: bad input, a missing model or index, a busy build."""


class UserError(InquireError, ValueError):
    """Input that cannot be used as given (an empty or oversized question or note, a duplicate id, a missing
    file, a bad batch line): the message already says what is wrong and what to do."""

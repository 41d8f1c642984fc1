"""One base for every error a user can cause and fix.

Its message says what is wrong and what to do. The CLI and the web page catch `InquireError` (and
OSError, for files the user named) and show the message; anything else is a bug and shows as one.
"""


class InquireError(Exception):
    """A problem to show the user as is: bad input, a missing model or index, a busy build."""

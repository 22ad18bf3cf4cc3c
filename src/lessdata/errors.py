"""The one exception type a user can cause.

Every message says what was wrong and how to fix it, in one line, so that the CLI can print
it as is and exit non-zero.
"""


class LessdataError(ValueError):
    """Bad input or options: the message says what is wrong and how to fix it."""

"""The one exception type a user can cause.

Every message says what was wrong and how to fix it, in one line, so that the CLI can print
it as is and exit non-zero. Messages speak the caller's language: raised from Python they
name the function's parameter (``seed must be ...``); the CLI translates those names into
its flags (``--seed must be ...``) before printing.
"""

from __future__ import annotations


class LessdataError(ValueError):
    """Bad input or options: the message says what is wrong and how to fix it.

    Args:
        message: one line; a parameter named in it is written as the Python parameter.
        param: the parameter the message is about, when it starts with that parameter's
            name (the CLI shows its flag there instead).

    Other parameters a message names (in a hint) are written in backticks, as in
    ``pass `label_column` or `labels```; the CLI shows those as flags too.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

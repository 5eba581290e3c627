"""The one exception type for bad input: the command line prints its message, never a traceback."""


class SlowVAEError(ValueError):
    """Bad input or state a user can fix; the message says what is wrong and what to do."""

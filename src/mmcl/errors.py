"""The one exception type that the CLI turns into a clean message instead of a traceback."""


class MMCLError(Exception):
    """A user-facing error: bad config, bad data, bad flag. The message says what and how to fix."""

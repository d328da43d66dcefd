"""Errors that cross module lines."""


class PermanentError(Exception):
    """A handler's verdict that retrying cannot help (the event goes to the dead-letter topic).
    The message must hold no personal data: it travels in the dead letter's headers."""

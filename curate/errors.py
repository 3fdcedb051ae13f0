"""The one exception type a user can cause. The CLI prints its message on one line and exits 1."""


class CurateError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))

"""The one exception type users see: bad input, reported as a single line."""


class InputError(Exception):
    """Invalid user input. The message names the file, the field and the bad value."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where

"""The exceptions users see: bad input, reported as a single line."""


class InputError(Exception):
    """Invalid user input. The message names the file, the field and the bad value."""

    def __init__(self, where: str, message: str):
        super().__init__(where, message)
        self.where = where
        self.message = message

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ParameterError(InputError):
    """A bad value of a named parameter of hexsim's API (`rate`, `alpha`, ...).

    The command line reports it under the flag that set the parameter.
    """

    @property
    def parameter(self) -> str:
        return self.where

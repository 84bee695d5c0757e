"""Errors that name the file, field or row at fault."""


class DataError(ValueError):
    """Input data breaks the contract: the message names the file and the field."""

"""Errors raised by emolens. Each also inherits the built-in a caller would expect."""


class EmolensError(Exception):
    """Base of every error emolens raises on purpose."""


class InvalidInputError(EmolensError, ValueError):
    """The input (text, file, row, request) cannot be analysed as given."""


class UnknownComponentError(EmolensError, KeyError):
    """A recognizer, store or other component was asked for by a name nobody registered."""

    def __str__(self) -> str:  # KeyError quotes its message; people should read it plainly.
        return str(self.args[0]) if self.args else ""


class MissingExtraError(EmolensError, ImportError):
    """An optional part was used without its extra installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'emolens[{extra}]'")


class ModelFileError(EmolensError, OSError):
    """A model directory or weights file is missing, corrupt or of another version."""


class NotFittedError(EmolensError, ValueError, AttributeError):
    """A trainable recognizer was used before fit()."""


class StoreError(EmolensError, OSError):
    """The result store cannot be opened, read or written (bad path, not a database, locked)."""

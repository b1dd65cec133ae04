"""The one error family: every error petface-edge raises on purpose derives from :class:`PetfaceError`.

The command-line tools catch exactly this family and print it as one line with exit
status 2; anything else is a bug and keeps its traceback. Each subclass also derives
from the builtin it replaces (``ValueError``, ``KeyError``, ...), so callers that caught
those before still do.
"""


class PetfaceError(Exception):
    """Bad input or a refused operation, with a message that names the file and what was expected."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument (quoted); every member of the family reads plainly.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class InvalidArgumentError(PetfaceError, ValueError):
    """An argument outside what a public function accepts (a bad name, a wrong dtype, top_k < 1)."""


class NotFoundError(PetfaceError, KeyError):
    """A name that is not there: a pet not in the gallery, an artifact id not in the manifest."""

"""The project's input error: one line naming the file and the 1-based line (or the flag)."""

from __future__ import annotations

from typing import Optional


class NqInputError(ValueError):
    """Bad input: carries the file and 1-based line it was found at."""

    def __init__(self, path: str, line: Optional[int], message: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.line, self.reason))

"""Errors that reach users.

Every error a user can fix by changing their input is a ``UserInputError``: the
CLI prints its message (no traceback) and exits with code 2, the API turns it into
a 4xx naming the field. Other exceptions are bugs.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserInputError(ValueError):
    """Bad input the user can fix; ``str(err)`` is the whole user-facing message."""


class SourceUnreachableError(UserInputError):
    """A server the data or the scores live on cannot be reached (PostgreSQL down, restarting, connection lost).

    The CLI reports it like any ``UserInputError`` (message, exit 2); the API answers 503 naming the part and
    tries again on the next request, because it is usually temporary.
    """


@dataclass(frozen=True)
class DataIssue:
    """One violation of the data contract, located precisely.

    ``row`` is 1-based and counts data rows (a CSV's header is not a row: row 1 is
    the first line after it). ``source`` is the file or table it came from.
    """

    table: str
    column: str | None
    message: str
    row: int | None = None
    customer_id: str | None = None
    value: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = [self.source or self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.customer_id is not None:
            where.append(f"customer {self.customer_id!r}")
        text = f"{', '.join(where)}: {self.message}"
        if self.value is not None:
            text += f" (value: {self.value!r})"
        return text


class DataContractError(UserInputError):
    """The data violates the contract; carries every issue found (capped by the caller)."""

    def __init__(self, issues: list[DataIssue], total: int | None = None) -> None:
        self.issues = issues
        self.total = total if total is not None else len(issues)
        shown = "\n".join(f"  - {issue}" for issue in issues)
        more = f"\n  ... and {self.total - len(issues)} more" if self.total > len(issues) else ""
        super().__init__(f"the data breaks the contract ({self.total} problem(s)):\n{shown}{more}")

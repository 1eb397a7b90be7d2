"""One error type for user mistakes, and a translation of pydantic's errors into one line that names the field."""

from __future__ import annotations

from pydantic import ValidationError


class SuanliError(ValueError):
    """A mistake in what the user asked for or supplied. The message is one line: field, value, what is allowed."""


def one_line(err: ValidationError, what: str = "") -> str:
    """The first problem of a pydantic error as `what: field 'a.b' = value: message`."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e.get("loc", ()))
    value = e.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    prefix = f"{what}: " if what else ""
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{prefix}field '{loc}' = {shown}: {e.get('msg', 'invalid')}{more}"


def validated(cls, data: dict, what: str = ""):
    """Build a pydantic model, turning a ValidationError into a SuanliError with one line."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise SuanliError(one_line(err, what)) from None

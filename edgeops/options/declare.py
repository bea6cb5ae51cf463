"""How a setting is declared: its checked type, its CLI spelling, and the options base.

A setting is one pydantic field of an options model: its default and description
once, its range as a checked type below (each with the one-line message a user
sees, from the flag or the keyword alike), and, when the flag is not simply
``--field-name``, a :class:`Cli` beside it. The CLI's flags (``options/flags.py``)
and the Python API's keywords (:meth:`Options.from_keywords`) are made from it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from copy import copy
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from edgeops.errors import UsageError


@dataclass(frozen=True)
class Cli:
    """How a setting is spelt on the command line, when not ``--field-name`` and a value.

    ``flags`` the option strings (or ``()`` with ``positional``); ``dest`` the
    attribute on the parsed arguments (default the field's name); ``invert`` a
    flag that sets a true-by-default setting to False (``--no-prune``); ``append`` a
    repeatable flag; ``parse`` the text of one value into what the model checks
    (``--paced-fps 30,60``); ``api_only`` no flag at all."""

    flags: tuple[str, ...] = ()
    dest: str | None = None
    metavar: str | None = None
    invert: bool = False
    append: bool = False
    parse: Callable[[str], Any] | None = None
    nargs: str | None = None
    const: Any = None
    positional: bool = False
    api_only: bool = False
    # Help text shown instead of the description when the flag means something
    # the field's own words do not say (a percentage given as a fraction).
    help: str | None = None


# --------------------------------------------------------------------------- checked types


def _check(test: Callable[[Any], bool], says: str) -> AfterValidator:
    """A check whose failure reads ``<setting> <says>``: ``{v}`` is the value."""

    def check(value: Any) -> Any:
        if value is not None and not test(value):
            raise ValueError(says.format(v=value))
        return value

    return AfterValidator(check)


def _finite_at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: not math.isnan(v) and v >= low  # NaN fails every comparison


def _range(**schema: float) -> Any:
    """The range in the JSON Schema (``edgeops schema config``); the check above says it."""
    return Field(json_schema_extra=schema)  # type: ignore[arg-type]


PositiveInt = Annotated[
    int, _check(lambda v: v >= 1, "{v!r} is not a positive whole number"), _range(minimum=1)
]
CountInt = Annotated[int, _check(lambda v: v >= 0, "must be 0 or more"), _range(minimum=0)]
NonNegative = Annotated[
    float, _check(_finite_at_least(0.0), "{v!r} is not a number >= 0"), _range(minimum=0)
]
Share = Annotated[
    float,
    _check(lambda v: 0 < v <= 1, "{v:g} is outside (0, 1], e.g. 0.5"),
    _range(exclusiveMinimum=0, maximum=1),
]
Growth = Annotated[
    float,
    _check(_finite_at_least(0.0), "is negative; it is allowed growth, 0 or more"),
    _range(minimum=0),
]
Spread = Annotated[
    float,
    _check(_finite_at_least(0.0), "is negative; it is a spread, 0 or more"),
    _range(minimum=0),
]
Confidence = Annotated[
    float,
    _check(lambda v: 0.5 <= v < 1, "{v:g} is outside [0.5, 1); use e.g. 0.95"),
    _range(minimum=0.5, exclusiveMaximum=1),
]
# A camera rate: above 0, and below what any camera or display feeds.
Rates = Annotated[
    tuple[float, ...],
    _check(
        lambda v: all(0 < r <= 10_000 for r in v), "{v} must be rates in (0, 10000] fps, e.g. 30,60"
    ),
]


def rates(text: str) -> tuple[float, ...]:
    """``30,60`` as rates; ``''`` for none."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a list of rates, e.g. 30,60") from None


# --------------------------------------------------------------------------- the options base


class Options(BaseModel):
    """Settings of one command or call: each field declared once, with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # What the API calls one of these in an error ("unknown ship option 'x'").
    what: ClassVar[str] = "option"

    @classmethod
    def from_keywords(cls, given: Self | None = None, /, **keywords: Any) -> Self:
        """``given`` with ``keywords`` over it, checked; None means "not given".

        An unknown keyword or a bad value is a one-line ``UsageError`` naming it."""
        known = cls.model_fields
        for key in keywords:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise UsageError(f"unknown {cls.what} {key!r}; {hint}known: {', '.join(known)}")
        values = given.model_dump(include=given.model_fields_set) if given is not None else {}
        values.update({k: v for k, v in keywords.items() if v is not None})
        return cls.checked(values, label=lambda name: name)

    @classmethod
    def checked(cls, values: Mapping[str, Any], label: Callable[[str], str]) -> Self:
        """``cls(**values)``, or a UsageError naming the setting by ``label(field name)``."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise UsageError(explain(exc, label)) from None

    def given(self, name: str) -> Any:
        """The value set for ``name`` by the caller, or None when it keeps its default."""
        return getattr(self, name) if name in self.model_fields_set else None


def explain(exc: ValidationError, label: Callable[[str], str]) -> str:
    """The first error of ``exc`` in one line, the setting named as the user spelt it."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    name = label(loc[0]) if loc else "a setting"
    where = " ".join([name, *loc[1:]])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] != "value_error":
        message = f"{first['input']!r}: {message[0].lower()}{message[1:]}"
    return f"{where} {message}"


def declared(model: type[BaseModel], name: str, **change: Any) -> Any:
    """The field ``name`` of ``model``, to reuse in another model: its default,
    description and checks stay declared once (``change`` e.g. ``default=None``)."""
    field: FieldInfo = copy(model.model_fields[name])
    for key, value in change.items():
        setattr(field, key, value)
    return field


def default_of(model: type[BaseModel], name: str) -> Any:
    """The declared default of ``model``'s field ``name``."""
    return model.model_fields[name].get_default(call_default_factory=True)

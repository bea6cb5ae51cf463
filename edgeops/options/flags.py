"""Command-line flags made from an options model, and the model made from parsed flags.

Each field becomes ``--field-name`` (or what its :class:`Cli` says) with its
description as the help and its declared default named there. Parsing only turns
text into values; the model checks them after, so a bad value is the same one-line
error (exit 2) from the command as from the Python API.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edgeops.options.declare import Cli, Options

OptionsT = TypeVar("OptionsT", bound=Options)


def cli_of(field: FieldInfo) -> Cli:
    """The field's :class:`Cli`, or the plain spelling."""
    return next((m for m in field.metadata if isinstance(m, Cli)), Cli())


def flags_of(name: str, field: FieldInfo) -> tuple[str, ...]:
    """The option strings of the setting ``name``: ``--min-runs``."""
    cli = cli_of(field)
    return cli.flags or (f"--{name.replace('_', '-')}",)


def dest_of(name: str, field: FieldInfo) -> str:
    """The attribute the parsed arguments hold the setting in."""
    cli = cli_of(field)
    if cli.dest:
        return cli.dest
    if cli.invert:
        return flags_of(name, field)[0].lstrip("-").replace("-", "_")
    return name


def add_flags(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    only: Collection[str] | None = None,
    required: Collection[str] = (),
) -> None:
    """Add a flag to ``parser`` for each of ``model``'s settings (or those in ``only``)."""
    for name, field in model.model_fields.items():
        cli = cli_of(field)
        if cli.api_only or (only is not None and name not in only):
            continue
        kwargs: dict[str, Any] = {"help": _help(field, cli)}
        kind, choices = _scalar(field.annotation)
        if kind is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = _parser(cli.parse or kind)
            kwargs["default"] = [] if cli.append else None
            if cli.append:
                kwargs["action"] = "append"
            for key in ("metavar", "nargs", "const"):
                if getattr(cli, key) is not None:
                    kwargs[key] = getattr(cli, key)
            if choices:
                kwargs["choices"] = choices
        if cli.positional:
            if name in required:
                kwargs.pop("nargs", None)
            parser.add_argument(name, **kwargs)
        else:
            parser.add_argument(
                *flags_of(name, field),
                dest=dest_of(name, field),
                required=name in required,
                **kwargs,
            )


def options_from_args(model: type[OptionsT], args: argparse.Namespace) -> OptionsT:
    """``model`` from the flags ``add_flags`` added; a flag not given keeps the default.

    A bad value is a one-line UsageError naming the flag."""
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, field in model.model_fields.items():
        cli = cli_of(field)
        dest = name if cli.positional else dest_of(name, field)
        if cli.api_only or not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        labels[name] = name if cli.positional else flags_of(name, field)[0]
        if cli.invert:
            if value:
                values[name] = False
        elif value is False or value is None or (cli.append and not value):
            continue
        elif cli.append and typing.get_origin(field.annotation) is dict:
            values[name] = dict(value)
        else:
            values[name] = value
    return model.checked(values, label=lambda name: labels.get(name, name))


def _help(field: FieldInfo, cli: Cli) -> str:
    text = cli.help or field.description or ""
    default = field.get_default(call_default_factory=True)
    shown_default = default not in (None, (), {}) and not isinstance(default, bool)
    if cli.help is None and "default" not in text and shown_default:
        shown = ",".join(f"{x:g}" for x in default) if isinstance(default, tuple) else default
        text += f" (default {shown:g})" if isinstance(shown, float) else f" (default {shown})"
    return text.replace("%", "%%")  # argparse formats help with %


def _scalar(annotation: Any) -> tuple[Any, tuple[str, ...] | None]:
    """The type one value of ``annotation`` is parsed as, and its choices for a Literal."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return str, tuple(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _scalar(args[0])
        return str, None  # str | Path: the text as given
    if origin is typing.Annotated:
        return _scalar(args[0])
    if origin in (tuple, list):
        return _scalar(args[0])
    if origin is dict:
        return str, None
    return annotation, None


def _parser(kind: Any) -> Any:
    """``kind`` as an argparse type whose ValueError message reaches the user."""
    if kind in (int, float, str, Path):
        return kind

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse

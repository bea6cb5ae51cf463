"""A sweep as data: ``[[sweep]]`` tables of typed recipe parameters, expanded to recipes.

A table names a recipe family a plugin declares (``edgeops_recipe_families``), e.g.
``coreml:palettize``, and gives values for the typed fields of that family's
steps. A list is an axis; the cross product of the axes is the set of recipes::

    [[sweep]]
    recipe = "coreml:palettize"
    nbits = [2, 4, 6, 8]
    mode = ["kmeans", "uniform"]
    granularity = ["per_tensor", "per_grouped_channel"]
    group_size = [0, 16]

A combination the step's own validation refuses (``group_size`` 16 with
``per_tensor``) is dropped with that reason; one that makes the same file as an
earlier one is dropped as a duplicate. A key that is no field of the family is an
error naming the closest, before any work.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from edgeops.backend import RECIPE_FIELDS, RecipeFamily
from edgeops.errors import UsageError
from edgeops.models import Recipe, StepConfig


@dataclass(frozen=True)
class Dropped:
    name: str
    params: dict[str, Any]
    reason: str


@dataclass
class Expansion:
    recipes: list[Recipe] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    families: dict[str, list[str]] = field(default_factory=dict)


# Each combination becomes a variant made and scored on this host (examples/sweep180
# makes 196 in about 9 minutes); 10 000 would take days, and 10^8 filled 3.8 GB
# expanding them. Counted from the axes' lengths, before one is expanded.
MAX_SWEEP_COMBINATIONS = 10_000


def expand(tables: Sequence[dict[str, Any]], families: Sequence[RecipeFamily]) -> Expansion:
    """Every recipe the tables make, and every combination dropped with its reason."""
    by_id = {f.id: f for f in families}
    out = Expansion()
    seen: dict[str, str] = {}
    _check_count(tables)
    for number, table in enumerate(tables, 1):
        family = _family(table, by_id, number)
        keys = family.fields()
        given = {k: v for k, v in table.items() if k not in ("recipe", "name")}
        for key in given:
            if key not in keys or (keys[key] is None and key not in RECIPE_FIELDS):
                close = difflib.get_close_matches(
                    key, [k for k in keys if keys[k] or k in RECIPE_FIELDS], n=1
                )
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(sorted(k for k in keys if "." not in k))
                raise UsageError(
                    f"[[sweep]] #{number} ({family.id}): {key!r} is no parameter of it{hint} "
                    f"(known: {known})"
                )
        axes = {k: (v if isinstance(v, list) else [v]) for k, v in given.items()}
        for values in itertools.product(*axes.values()):
            params = dict(zip(axes, values, strict=True))
            name = _name(table.get("name") or family.name, params, axes)
            try:
                recipe = _recipe(family, name, params, keys)
            except (ValidationError, ValueError) as exc:
                out.dropped.append(Dropped(name, params, _reason(exc)))
                continue
            same_file = {k: v for k, v in recipe.cache_identity().items() if k != "name"}
            identity = repr(sorted(same_file.items()))
            if identity in seen:
                out.dropped.append(Dropped(name, params, f"the same recipe as {seen[identity]}"))
                continue
            if any(r.id == recipe.id for r in out.recipes):
                raise UsageError(
                    f"[[sweep]] #{number} makes {recipe.id} again with other parameters; "
                    'give one of the tables a name = "..."'
                )
            seen[identity] = recipe.id
            out.recipes.append(recipe)
            out.families.setdefault(family.id, []).append(recipe.id)
    return out


def _check_count(tables: Sequence[dict[str, Any]]) -> None:
    total = 0
    for number, table in enumerate(tables, 1):
        lengths = [
            len(v) for k, v in table.items() if k not in ("recipe", "name") and isinstance(v, list)
        ]
        total += math.prod(lengths)
        if total > MAX_SWEEP_COMBINATIONS:
            raise UsageError(
                f"[[sweep]] #{number} brings the sweep to {total:,} combinations "
                f"({' x '.join(map(str, lengths))} in it), over the {MAX_SWEEP_COMBINATIONS:,} "
                "bound; list fewer values per parameter"
            )


def _family(table: dict[str, Any], by_id: dict[str, RecipeFamily], number: int) -> RecipeFamily:
    wanted = table.get("recipe")
    if not isinstance(wanted, str):
        raise UsageError(
            f'[[sweep]] #{number} needs recipe = "format:family", e.g. coreml:palettize'
        )
    if wanted not in by_id:
        close = difflib.get_close_matches(wanted, list(by_id), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"[[sweep]] #{number}: no installed plugin has the recipe family {wanted!r}; "
            f"{hint}known: {', '.join(sorted(by_id)) or 'none'}"
        )
    return by_id[wanted]


def _recipe(
    family: RecipeFamily,
    name: str,
    params: dict[str, Any],
    keys: dict[str, type[StepConfig] | None],
) -> Recipe:
    per_step: dict[type[StepConfig], dict[str, Any]] = {cls: {} for cls in family.steps}
    recipe_fields = dict(family.fixed)
    for key, value in params.items():
        if key in RECIPE_FIELDS:
            recipe_fields[key] = value
            continue
        cls = keys[key]
        assert cls is not None
        per_step[cls][key.split(".", 1)[-1]] = value
    steps = [cls(**per_step[cls]) for cls in family.steps]
    return Recipe.of(
        name=name,
        format=family.format,
        owner=family.owner,
        steps=steps,
        description=family.description,
        **recipe_fields,
    )


def _name(prefix: str, params: dict[str, Any], axes: dict[str, list[Any]]) -> str:
    """A stable, readable name from the values that vary: ``palettize-4-kmeans-per_tensor``."""
    parts = [prefix]
    for key, value in params.items():
        if len(axes[key]) < 2:
            continue
        words = key.split(".", 1)[-1].split("_")
        short = "".join(w[0] for w in words) if len(words) > 1 else words[0]
        if isinstance(value, bool):
            parts.append(short if value else f"no{short}")
        else:
            parts.append(str(value) if isinstance(value, str) else f"{short}{value:g}")
    return "-".join(parts)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return " ".join(str(exc).split())

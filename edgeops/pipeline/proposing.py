"""The recipes a run makes: what the plugins propose and the ``[[sweep]]`` tables expand to."""

from __future__ import annotations

import dataclasses

from edgeops.errors import PluginError, UsageError
from edgeops.models import (
    Artifact,
    DeviceProfile,
    ModelSpec,
    Recipe,
)
from edgeops.pipeline.names import check_name
from edgeops.pipeline.state import PipelineState
from edgeops.pipeline.sweep import Expansion, RecipeFamily, expand
from edgeops.plugin_manager import (
    answers_by_plugin,
)


class Proposing(PipelineState):
    """Which recipes the plugins propose, and the sweep tables expand to."""

    def recipe_families(self) -> list[RecipeFamily]:
        """Every plugin's recipe families, each stamped with its plugin as owner."""
        out: list[RecipeFamily] = []
        for owner, families in answers_by_plugin(self.pm, "edgeops_recipe_families"):
            out.extend(dataclasses.replace(f, owner=owner) for f in families)
        return out

    def sweep(self, spec: ModelSpec) -> Expansion:
        """The recipes ``spec``'s ``[[sweep]]`` tables make, and what they drop and why."""
        return expand(spec.sweep, self.recipe_families())

    def check_recipe_names(self, wanted: tuple[str, ...] | None) -> None:
        """Refuse names no plugin can propose: ``format:name``, or a bare name for every format."""
        if wanted is None:
            return
        known = sorted({r for rs in self.hook.edgeops_recipe_catalog() for r in rs})
        bare = {r.split(":", 1)[-1] for r in known}
        for name in wanted:
            if name in known or name in bare:
                continue
            import difflib

            close = difflib.get_close_matches(name, [*known, *sorted(bare)], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"unknown recipe {name!r} in recipes; {hint}known: {', '.join(known)}")

    def proposed_recipes(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        """Every plugin's recipes for ``artifact``, each stamped with the plugin that proposed it.

        Two plugins proposing one ``format:name`` is refused: which file would it be?
        """
        owners: dict[str, str] = {}
        out = []
        for owner, recipes in answers_by_plugin(
            self.pm, "edgeops_recipes", artifact=artifact, profiles=profiles
        ):
            for recipe in recipes:
                if recipe.format != artifact.format:
                    continue
                try:
                    # Backends name files after recipes; a name that is a path is refused here.
                    check_name(recipe.name, f"recipe name from plugin {owner!r}")
                except UsageError as exc:
                    raise PluginError(f"{exc}; fix or disable the plugin") from exc
                if recipe.id in owners:
                    if owners[recipe.id] == owner:
                        continue
                    raise PluginError(
                        f"plugins {owners[recipe.id]!r} and {owner!r} both propose {recipe.id}; "
                        f"rename one recipe or disable a plugin with EDGEOPS_DISABLE_PLUGINS"
                    )
                owners[recipe.id] = owner
                out.append(recipe.model_copy(update={"owner": owner}))
        return out


def recipe_wanted(recipe: Recipe, wanted: tuple[str, ...] | None) -> bool:
    """A config names recipes ``format:name``, or by bare name meaning every format."""
    return wanted is None or recipe.id in wanted or recipe.name in wanted

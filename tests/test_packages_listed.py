"""Every package of the core and under plugins/ is in pyproject.toml's package list: a
package left out is missing from the wheel, though an editable install still finds it
(edgeops.models and edgeops.selection became packages in issue 22)."""

import tomllib

from paths import REPO


def test_every_package_is_in_the_wheel():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    core = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "edgeops").rglob("__init__.py")
    }
    plugins = {p.parent.name for p in (REPO / "plugins").glob("*/__init__.py")}
    assert not (core | plugins) - listed, (
        f"add to [tool.setuptools] packages: {(core | plugins) - listed}"
    )
    assert all(setuptools["package-dir"].get(name) == f"plugins/{name}" for name in plugins)

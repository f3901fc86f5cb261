"""The training recipes ``wavguard train NAME`` finds by name.

They ship inside the package (``wavguard/recipes/NAME.yaml``, package data) and are read through
:mod:`importlib.resources`, so ``wavguard train custom_folder`` and ``wavguard train --list`` work
the same from a wheel as from the source tree. A RECIPE that names a file (it exists, ends with
``.yaml``/``.yml`` or holds a path separator) is that file instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ..errors import ConfigError

__all__ = ["DEFAULT_RECIPE", "recipe_names", "describe", "is_recipe_file", "recipe_file"]

#: What ``wavguard train --data DIR`` trains: a real/ + fake/ folder, 10 % held out for validation.
DEFAULT_RECIPE = "custom_folder"
_SUFFIXES = (".yaml", ".yml")


def _folder():
    return resources.files("wavguard") / "recipes"


def recipe_names() -> list[str]:
    """The packaged recipes' names, sorted."""
    return sorted(p.name.rsplit(".", 1)[0] for p in _folder().iterdir() if p.name.endswith(_SUFFIXES))


def describe(name: str) -> str:
    """The recipe's opening comment (up to its example command lines), as one line."""
    words = []
    for line in (_folder() / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") or line.startswith("#  "):  # settings, or the indented example commands
            break
        words.append(line.lstrip("#").strip())
    return " ".join(words).rstrip(":")


def is_recipe_file(recipe: str) -> bool:
    """Whether RECIPE is a file path rather than a packaged recipe's name."""
    return os.path.isfile(recipe) or recipe.lower().endswith(_SUFFIXES) or os.sep in recipe or "/" in recipe


@contextlib.contextmanager
def recipe_file(recipe: str) -> Iterator[str | Path]:
    """The YAML file RECIPE names (a path, or a packaged recipe as a real file for as long as the
    context lasts); an unknown name is a :class:`~wavguard.errors.ConfigError` listing the known ones."""
    if is_recipe_file(recipe):
        yield recipe
        return
    names = recipe_names()
    if recipe not in names:
        raise ConfigError(
            f"no recipe named {recipe!r}: the packaged recipes are {', '.join(names)} "
            "(wavguard train --list), or give a YAML file"
        )
    with resources.as_file(_folder() / f"{recipe}.yaml") as path:
        yield path

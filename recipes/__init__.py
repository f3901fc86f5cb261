"""The offline corpus builder and the notes on each training recipe, run from the repository root as
``python -m recipes.NAME ...`` (see each folder's README.md); not part of the installed library.

The training recipes themselves (YAML) ship inside the package, in ``src/wavguard/recipes/``, so
``wavguard train NAME`` and ``wavguard train --list`` work after ``pip install``.
"""

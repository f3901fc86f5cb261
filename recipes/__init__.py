"""Training recipes and the offline corpus builder, run from the repository root as
``python -m recipes.NAME ...`` (see each folder's README.md); not part of the installed library.
"""

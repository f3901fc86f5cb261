"""The installed wavguard version (one place; ``wavguard.__version__`` re-exports it)."""

__version__ = "0.1.0"

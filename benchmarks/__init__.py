"""wavguard's benchmarks, run from the repository root as ``python -m benchmarks.NAME`` (see docs/benchmarks.md).

A package so that its modules import each other, and tests and recipes import them, as
``benchmarks.NAME`` without touching ``sys.path``. Not part of the installed library.
"""

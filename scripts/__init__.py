"""Maintenance scripts (install, test, the demo screenshot, reference values); not part of the library.

A package so that tests import them as ``scripts.NAME`` without touching ``sys.path``.
"""

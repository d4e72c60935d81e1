"""Pytest fixtures: see module docstring once filled in."""

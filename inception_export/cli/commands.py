"""Imports each command module so it registers itself on the app."""

from . import models_cmd  # noqa: F401

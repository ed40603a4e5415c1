"""Catalog tests run the real tools through the real runner; the fixtures come from localrun."""

from localrun import store, tools_installed  # noqa: F401 - fixtures, registered by import

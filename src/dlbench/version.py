"""dlbench's version, in a module of its own so that any layer can read it without importing
the package's lazy front door (dlbench/__init__.py reaches the API, and so every layer)."""

__version__ = "0.1.0"

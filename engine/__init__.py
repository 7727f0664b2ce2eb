"""imaginebot's image engine. Importing this package imports no torch: see :mod:`engine.api`."""

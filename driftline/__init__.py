"""Shared foundations of driftline: the error hierarchy, the typed settings and the data-home layout.

Every other package (the pure ones and the Prefect edge alike) builds on these three modules;
they import nothing heavier than pydantic, so the CLI's fast commands stay fast.
"""

__version__ = "0.1.0"

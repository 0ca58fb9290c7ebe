"""driftline's Prefect flows and the ``python -m flows`` command line.

This ``__init__`` imports nothing: ``python -m flows --help`` and the commands that run no flow
(``registry ...``, ``audit verify``, ``keys ...``) must answer without importing Prefect. Flow
modules are imported only by the commands that run them (see ``flows.catalog``).
"""

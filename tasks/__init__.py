"""Thin Prefect ``@task`` wrappers around the pure packages: retries on I/O, logging, artifacts.

This ``__init__`` imports nothing, so that ``tasks.workspace`` (the composition root, Prefect-free)
can serve the CLI's fast commands without pulling Prefect in.
"""

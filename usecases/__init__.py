"""Prefect-free use cases over a workspace: what the CLI, the flows and the Python API all call."""

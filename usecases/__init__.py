"""Prefect-free use cases shared by the CLI, the flows and the Python API.

Each module holds one use case (train-and-gate, score, ...): the domain logic above the pure
packages, with typed results at its boundary. The CLI parses arguments and calls one; a flow wraps
the same calls in tasks for retries, logging, artifacts and events. Nothing here imports Prefect
(``tests/test_architecture.py`` checks it), so every piece is unit-tested on small frames.
"""

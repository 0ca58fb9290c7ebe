"""Governance: evaluation gates, the audit trail and compliance exports (never imports Prefect).

``gates`` decides whether a candidate may be promoted and returns a ``GateReport``; ``audit`` keeps
the append-only, hash-chained log whose heads ``checkpoints`` sign; ``export`` packs a date range
of it, with registry evidence, into a signed bundle an auditor verifies offline. Import the
submodules directly; this package imports nothing on its own so that importing it stays cheap.
"""

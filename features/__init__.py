"""The feature store: contracts, validated ingestion, quarantine, Delta tables, point-in-time
training sets, latest values and drift statistics. Pure Python: never imports Prefect."""

"""The feature store: contracts, validated ingestion, quarantine, Delta tables, point-in-time
training sets and latest values. Pure Python: never imports Prefect."""

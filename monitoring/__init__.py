"""The drift monitor: reference profiles, drift statistics and rules, current windows, label
matching, performance over time and the HTML report. Pure Python on polars frames and numpy
arrays: never imports Prefect; reading the store and writing reports stay with the callers."""

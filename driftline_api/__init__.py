"""driftline's Python API: the operations of the command line, called from a notebook.

    import driftline_api as dl
    home = dl.open(".driftline")                      # a data home (created on first write)
    home.ingest(frame, group="customer_activity")     # a polars/pandas frame, or a file or folder
    outcome = home.train("churn", trials=5)           # the train flow, in-process (Prefect's temporary server)
    scored = home.champion("churn").predict(frame)    # verified champion; score + decision columns
    result = home.monitor("churn", since="2026-03-01")
    home.versions("churn"), home.models()

Why a package of its own and not ``driftline.api``: ``driftline/`` is the bottom layer (errors,
settings, the home's layout) that every other package imports, and it may import none of them;
this API sits on top, beside ``flows/``, as one more adapter over ``usecases/`` (``driftline_api ->
{usecases, tasks.workspace} -> pure packages -> driftline``; ``train`` alone reaches ``flows``,
lazily). Results are the use cases' own typed values (``IngestRun``, ``TrainOutcome``,
``MonitorResult``, ``ModelSpec``) plus :class:`Champion` and :class:`VersionInfo`.
"""

from driftline_api.champion import Champion
from driftline_api.home import Home, open
from driftline_api.versions import VersionInfo

__all__ = ["Champion", "Home", "VersionInfo", "open"]

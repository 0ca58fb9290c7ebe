"""The MLflow side of ``bench_serving.py``: driftline's LightGBM booster as an MLflow pyfunc model.

Run by the benchmark with the python of its own MLflow virtual environment (never driftline's):
``python serving_mlflow.py VERSION_DIR OUT_DIR ROWS.json THREADS`` saves into ``OUT_DIR`` a pyfunc
model whose artifacts are the registry version's own ``model.txt`` and ``model_schema.json`` and
whose ``predict`` repeats :meth:`training.schema.FeatureSchema.matrix` in pandas (category ``i`` of
the sorted training categories is code ``i``, an unknown category or a null is NaN, every column
float64, in the schema's feature order) before ``Booster.predict`` with the same thread count as
driftline. Same booster, same matrix: the same numbers, which the benchmark checks bit for bit
before it times anything. The signature is inferred from the benchmark rows, as
``mlflow.lightgbm.log_model(..., input_example=...)`` would, so MLflow validates inputs as a
typical deployment does (driftline validates against its schema too). Only MLflow, LightGBM,
numpy and pandas are imported here: this file must not import driftline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature


class DriftlineBooster(mlflow.pyfunc.PythonModel):
    """A LightGBM booster and driftline's feature schema; ``predict`` gives P(class 1) per row."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        import lightgbm as lgb

        schema = json.loads(Path(context.artifacts["schema"]).read_text("utf-8"))
        self.features = list(schema["features"])
        self.codes = {name: {value: float(i) for i, value in enumerate(known)}
                      for name, known in schema["categories"].items()}
        self.booster = lgb.Booster(model_file=context.artifacts["model"])

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
                params: dict | None = None) -> np.ndarray:
        columns = []
        for name in self.features:
            column = model_input[name]
            if name in self.codes:
                column = column.map(self.codes[name])  # unknown or missing -> NaN, as driftline
            columns.append(pd.to_numeric(column, errors="raise").astype(np.float64).to_numpy())
        matrix = np.column_stack(columns) if columns else np.zeros((len(model_input), 0))
        return np.asarray(self.booster.predict(matrix, num_threads=self.threads))


def main() -> None:
    version_dir, out, rows_file, threads = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    split = json.loads(rows_file.read_text("utf-8"))["dataframe_split"]
    example = pd.DataFrame(split["data"], columns=split["columns"])
    artifacts = {"model": str(version_dir / "model.txt"), "schema": str(version_dir / "model_schema.json")}
    context = mlflow.pyfunc.PythonModelContext(artifacts=artifacts, model_config={})
    probe = DriftlineBooster(threads)  # loaded here only for the signature; the saved one loads at serve time
    probe.load_context(context)
    signature = infer_signature(example, probe.predict(context, example))
    mlflow.pyfunc.save_model(str(out), python_model=DriftlineBooster(threads), artifacts=artifacts,
                             signature=signature)


if __name__ == "__main__":
    main()

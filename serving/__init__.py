"""Online serving: verified champions behind HTTP (Open Inference Protocol v2 and MLflow's scoring API).

Prefect-free, like the use cases: the server process imports Starlette and uvicorn, never Prefect,
so it starts in well under a second and runs without a Prefect server.
"""

"""Session-wide test settings, applied before any test module imports LightGBM.

OpenMP threads sleep rather than spin while waiting (as the CLI and the pool's workers set it):
the suite runs on 2 shared cores, where spinning threads stalled LightGBM fits many times over.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

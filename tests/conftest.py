"""Session-wide test settings, applied before any test module imports LightGBM.

OpenMP threads sleep rather than spin while waiting (as the CLI and the pool's workers set it):
the suite runs on 2 shared cores, where spinning threads stalled LightGBM fits many times over.
For the same reason Hypothesis has no per-example deadline here: timing on a shared machine is
not what the property tests test, and a slow example must not fail the suite.
"""

import os

from hypothesis import settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
settings.register_profile("driftline", deadline=None, print_blob=True)
settings.load_profile("driftline")

"""The gate and drift reports as a browser shows them: headless Chromium renders each page offline.

Each page is rendered by Debian's ``chromium`` (as test_ui.py runs it) to a screenshot saved in
pytest's tmp dir (the path is printed); the PNG must be a real picture, not a blank page: large
enough, and with many distinct colours in the part where the plots are (read with Pillow, which
matplotlib brings). Skipped when chromium is
not installed; ``.ci/run`` installs it. No server and no network: the pages are files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "governance"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))


def _pixels(png: Path) -> np.ndarray:
    """The screenshot's RGB pixels (Pillow comes with matplotlib)."""
    from PIL import Image

    with Image.open(png) as image:
        return np.asarray(image.convert("RGB"))


def _render(page: Path, tmp_path: Path) -> np.ndarray:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    shot = tmp_path / f"{page.stem}.png"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={shot}", "--window-size=1280,2400",
         page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    print(f"\nscreenshot of {page.name}: {shot}")
    assert done.returncode == 0 and shot.exists(), f"chromium failed ({done.returncode}):\n{done.stderr[-2000:]}"
    assert shot.stat().st_size > 30_000  # a blank 1280x2400 page compresses to a few kilobytes
    return _pixels(shot)


def _busy(pixels: np.ndarray) -> int:
    """Distinct colours, coarsely binned: a page of plots has dozens, a blank or text-only one few."""
    return len(np.unique((pixels // 32).reshape(-1, 3), axis=0))


def test_a_gate_report_renders_with_its_plots(tmp_path: Path) -> None:
    from test_gate_plots import _page  # the binary page of the plot tests, user text included

    page = tmp_path / "gate.html"
    html, _ = _page("binary")
    page.write_text(html)
    pixels = _render(page, tmp_path)
    assert pixels.shape[:2] == (2400, 1280)
    assert _busy(pixels[1200:]) >= 8, "the lower half, where the plots are, looks blank"


def test_a_drift_report_renders_with_its_plots(tmp_path: Path) -> None:
    import test_drift_plots as d

    rng = np.random.default_rng(0)
    profile = d.build_profile(d._data(rng, 3000, 0.0, 0.2), numeric=["calm", d.SCRIPT], categorical=["device"],
                              predictions=rng.beta(2, 5, 3000))
    current, predictions = d._data(rng, 3000, 1.0, 0.6), rng.beta(2.2, 5, 3000)
    report = d.detect_drift(profile, current, d.DriftPolicy(), current_predictions=predictions)
    history = (d.DriftPoint("2024-04-24T09:30:00.000000Z", 3, "w1", False, 0.0, {"calm": 0.01}),)
    page = tmp_path / "drift.html"
    page.write_text(d.render_drift_html(report, profile, current, current_predictions=predictions, header=d.HEADER,
                                        policy=d.DriftPolicy(), history=history, stable_charts=True))
    pixels = _render(page, tmp_path)
    assert _busy(pixels[600:]) >= 8, "the charts below the header look blank"

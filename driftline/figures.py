"""Matplotlib figures as deterministic inline SVG, shared by the gate and drift reports' plots.

Reports are self-contained HTML (no scripts, no network), so each plot is an ``<svg>`` element
inlined in the page. Matplotlib draws it through the object API (``Figure``, never ``pyplot``,
whose global state is not safe across threads or flows), with the Agg-free SVG canvas, a fixed
``svg.hashsalt`` and no date in the metadata, so the same inputs give the same bytes and a report
can be compared or hashed. Text is kept as SVG ``<text>`` (``svg.fonttype: none``): smaller, and
matplotlib escapes it as XML, so a column named ``<script>`` stays text. Mathtext is off
(``text.parse_math``): user text between two dollars is shown as it is, never parsed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib (~0.3 s) is imported when a figure is drawn, not with the reports' types
    from matplotlib.figure import Figure

CANDIDATE, CHAMPION, REFERENCE, CURRENT, BAD = "#1f6fb4", "#8c8c8c", "#8c8c8c", "#d9534f", "#b3261e"
_RC = {"svg.hashsalt": "driftline-report", "svg.fonttype": "none", "font.size": 9,
       "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10,
       "text.parse_math": False}


def label(value: object, width: int = 28) -> str:
    """User text (a column, a category) as a plot label: on one line, long text shortened."""
    text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def figure_svg(draw: Callable[[Figure], None], *, size: tuple[float, float] = (6.4, 3.6)) -> str:
    """Run ``draw`` on a new figure and return its SVG element (no XML prolog), deterministic."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]  # its stubs type keys as literals
        fig = Figure(figsize=size, layout="constrained")
        draw(fig)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):].strip()
    # The RDF metadata block (creator, namespaces) says nothing to a reader of the page.
    start, end = text.find("<metadata>"), text.find("</metadata>")
    return text[:start] + text[end + len("</metadata>"):] if 0 <= start < end else text


def empty_svg(message: str, *, size: tuple[float, float] = (6.4, 1.2)) -> str:
    """A figure that says why there is nothing to plot (kept, so every plot's place is there)."""
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, label(message, 120), ha="center", va="center", color="#555")
    return figure_svg(draw, size=size)

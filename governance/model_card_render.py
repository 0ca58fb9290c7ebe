"""The model card written out: Markdown and HTML from the same :func:`~governance.model_card.card_sections`.

Every text in a card may hold user text (column names, category values, the spec's intended use),
so both writers escape it. Markdown: ``<`` becomes an entity (a Markdown viewer would
otherwise run a ``<script>`` in a spec's text), and a table cell's ``|`` and newlines are escaped
so that one cell stays one cell. HTML: everything through :func:`html.escape`, a self-contained
page with inline style and no scripts; plots (SVG given by the caller) are embedded as ``<img>``
data URIs, in which a browser runs no script even if an SVG carried one. :func:`card_files` gives
the two files the registry signs with the version.
"""

from __future__ import annotations

import base64
import html

from governance.model_card import ModelCard, Section, Table, card_sections
from registry import layout


def _md_text(text: str) -> str:
    return text.replace("<", "&lt;")  # no tag can open without "<"; ">=" stays readable


def _md_cell(text: str) -> str:
    return _md_text(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    if not table.rows:
        return ["(none)"]
    out = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |",
           "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return out


def to_markdown(card: ModelCard) -> str:
    """The card as Markdown (what ``registry show MODEL VERSION --card`` prints)."""
    lines: list[str] = []
    for i, section in enumerate(card_sections(card)):
        lines += [("# " if i == 0 else "## ") + _md_text(section.title), ""]
        for text in section.lines:
            lines += [_md_text(text)] + ([] if text.startswith("- ") else [""])
        if section.lines and section.lines[-1].startswith("- "):
            lines.append("")
        for table in section.tables:
            lines += _md_table(table) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _html_lines(section: Section) -> str:
    out, items = [], []
    for text in section.lines:
        if text.startswith("- "):
            items.append(f"<li>{html.escape(text[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        out.append("<p>" + html.escape(text).replace("\n", "<br>") + "</p>")
    if items:
        out.append("<ul>" + "".join(items) + "</ul>")
    return "".join(out)


def _html_table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    rows = "".join("<tr" + (' class="fail"' if "FAIL" in row else "") + ">"
                   + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _plots(card: ModelCard) -> str:
    figures = []
    for name, svg in sorted(card.plots.items()):
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(name)}" src="data:image/svg+xml;base64,{data}">'
                       f"<figcaption>{html.escape(name)}</figcaption></figure>")
    return "".join(figures)


def to_html(card: ModelCard) -> str:
    """The card as a self-contained HTML page: inline style, no scripts, every value escaped."""
    body = []
    for i, section in enumerate(card_sections(card)):
        tag = "h1" if i == 0 else "h2"
        body.append(f"<{tag}>{html.escape(section.title)}</{tag}>{_html_lines(section)}")
        body += [_html_table(t) for t in section.tables]
        if section.title == "Metrics":
            body.append(_plots(card))
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(card.title)}</title><style>body{{font-family:sans-serif;margin:2em;"
            "max-width:60em}table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #999;"
            "padding:4px 8px}.fail{background:#fdd}figure{display:inline-block;margin:0.5em}"
            "img{max-width:28em}</style></head><body>" + "".join(body) + "</body></html>\n")


def card_files(card: ModelCard) -> dict[str, bytes]:
    """The card's two files, by their names in the version folder."""
    return {layout.MODEL_CARD: to_markdown(card).encode("utf-8"),
            layout.MODEL_CARD_HTML: to_html(card).encode("utf-8")}

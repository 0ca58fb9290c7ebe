"""The PDF copy of an export's report, made by whichever converter is installed, or by none.

:func:`find_converter` looks for LibreOffice (``libreoffice``/``soffice --headless --convert-to
pdf``) and then Chromium (``chromium``/``google-chrome --headless --print-to-pdf``) on the PATH;
:func:`html_to_pdf` runs it on the page in a private temporary folder, with its own profile
folder and a time limit (the page itself is escaped and its Content-Security-Policy runs and
fetches nothing), and returns a :class:`PdfResult` that says what was made
and why not. It never raises: a missing, failing or slow converter costs the PDF, never the
export. The converter runs in its own process group, killed whole when it ends or times out, so
no helper process outlives the export.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PdfResult", "find_converter", "html_to_pdf"]

TIMEOUT_S = 120.0
_LIBREOFFICE = ("libreoffice", "soffice")
_CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass(frozen=True)
class PdfResult:
    """The PDF's bytes (None when none was made) and a sentence for the bundle saying which."""

    pdf: bytes | None
    converter: str | None
    note: str


def find_converter() -> tuple[str, str] | None:
    """(kind, executable) of the first converter on the PATH: LibreOffice, then Chromium."""
    for kind, names in (("libreoffice", _LIBREOFFICE), ("chromium", _CHROMIUM)):
        for name in names:
            if path := shutil.which(name):
                return kind, path
    return None


def _command(kind: str, exe: str, page: Path, out: Path, profile: Path) -> list[str]:
    if kind == "libreoffice":
        return [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "pdf",
                "--outdir", str(out.parent), str(page)]
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--user-data-dir={profile}", f"--print-to-pdf={out}",
            page.as_uri()]


def html_to_pdf(page: bytes, *, converter: tuple[str, str] | None = None,
                timeout: float = TIMEOUT_S) -> PdfResult:
    """``page`` (an HTML document) as PDF by ``converter`` (default: :func:`find_converter`)."""
    found = converter or find_converter()
    if found is None:
        return PdfResult(None, None, "No PDF: no converter (libreoffice or chromium) is installed.")
    kind, exe = found
    with tempfile.TemporaryDirectory(prefix="driftline-pdf-") as tmp:
        folder = Path(tmp)
        html_path, out = folder / "model_report.html", folder / "model_report.pdf"
        html_path.write_bytes(page)
        (folder / "profile").mkdir()
        try:
            proc = subprocess.Popen(_command(kind, exe, html_path, out, folder / "profile"), cwd=folder,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return PdfResult(None, kind, f"No PDF: {kind} could not be started ({exc.strerror or exc}).")
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            # The converter's helpers (renderers, crash handlers) share its new process group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        if code is None:
            return PdfResult(None, kind, f"No PDF: {kind} took longer than {timeout:.0f} s.")
        data = out.read_bytes() if out.is_file() else b""
        if code != 0 or not data.startswith(b"%PDF-"):
            return PdfResult(None, kind, f"No PDF: {kind} failed (exit {code}).")
        return PdfResult(data, kind, f"model_report.pdf made by {kind}.")

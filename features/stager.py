"""Good rows of one group's drops, staged as Parquet files that one Delta commit adds as they are.

Ingestion validates a drop batch by batch; :class:`Stager` buffers the good rows and writes them,
in the background, as files of about a million rows (about 100 MB at 20 columns) in the staging
folder, so the commit adds large files without a second rewrite and memory stays bounded.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from features.background import WriteBehind
from features.validation import SOURCE

# Rows per Parquet file handed to Delta: large files (about 100 MB at 20 columns), bounded memory.
FILE_ROWS = 1_000_000
FILE_BYTES = 512 << 20


class Stager:
    """Good rows of one group's drops, written as Parquet files of about ``FILE_ROWS`` rows in the
    staging folder: large files that Delta adds as they are. Each file is written by ``writer`` in
    the background while the next rows are validated; memory holds at most two files' rows.
    A drop rejected midway has its rows taken out again (rare: only files holding them are rewritten)."""

    def __init__(self, folder: Path, writer: WriteBehind) -> None:
        self.folder = folder
        self.writer = writer
        self.files: list[Path] = []
        self._sources: list[set[str]] = []
        self._frames: list[pl.DataFrame] = []
        self._pending_sources: set[str] = set()
        self._bytes = self._rows = 0

    def add(self, rows: pl.DataFrame, digest: str) -> None:
        if rows.height:
            self._frames.append(rows)
            self._pending_sources.add(digest)
            self._rows += rows.height
            self._bytes += int(rows.estimated_size())
            if self._rows >= FILE_ROWS or self._bytes >= FILE_BYTES:
                self._flush()

    def _flush(self) -> None:
        if self._frames:
            frame = pl.concat(self._frames, rechunk=False)
            target = self.folder / f"part-{len(self.files):05d}.parquet"
            self.writer.submit(lambda: frame.write_parquet(target))
            self.files.append(target)
            self._sources.append(self._pending_sources)
        self._frames, self._pending_sources, self._bytes, self._rows = [], set(), 0, 0

    def discard(self, digest: str) -> None:
        self.writer.wait()
        self._frames = [f for f in (f.filter(pl.col(SOURCE) != digest) for f in self._frames) if f.height]
        self._pending_sources.discard(digest)
        self._rows = sum(f.height for f in self._frames)
        self._bytes = sum(int(f.estimated_size()) for f in self._frames)
        kept: list[tuple[Path, set[str]]] = []
        for file, sources in zip(self.files, self._sources, strict=True):
            if digest in sources:
                sources.discard(digest)
                rows = pl.read_parquet(file).filter(pl.col(SOURCE) != digest)
                rows.write_parquet(file) if rows.height else file.unlink()
            if sources:
                kept.append((file, sources))
        self.files, self._sources = [f for f, _ in kept], [s for _, s in kept]

    def close(self) -> list[Path]:
        self._flush()
        self.writer.wait()
        return self.files

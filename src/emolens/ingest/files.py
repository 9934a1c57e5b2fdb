"""Local files and folders: a file, a folder (searched recursively) or a glob pattern, each file
routed by its type: tables to the text pipeline, HTML pages to main-text extraction, audio,
video and images to the media analyzers (run when their extras are installed).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emolens.errors import EmolensError
from emolens.ingest.base import BadItem, Empty, Entry, IngestItem, Note, local_source
from emolens.ingest.tables import TABLE_EXTENSIONS, TableSource

AUDIO_EXTENSIONS = frozenset(
    ".wav .flac .mp3 .m4a .aac .ogg .oga .opus .wma .aiff .aif .amr".split()
)
VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mkv .webm .avi .mov .mpg .mpeg .wmv .flv".split())
IMAGE_EXTENSIONS = frozenset(".jpg .jpeg .png .webp .bmp .gif .tif .tiff".split())
HTML_EXTENSIONS = frozenset((".html", ".htm"))
_GLOB_CHARS = frozenset("*?[")


def media_kind(path: Path) -> str | None:
    """'audio', 'video' or 'image' from the extension, else None."""
    suffix = path.suffix.lower()
    for kind, extensions in (("audio", AUDIO_EXTENSIONS), ("video", VIDEO_EXTENSIONS),
                             ("image", IMAGE_EXTENSIONS)):
        if suffix in extensions:
            return kind
    return None


def _known(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in TABLE_EXTENSIONS or suffix in HTML_EXTENSIONS or media_kind(path) is not None


class FilesSource:
    """Files: one file, a folder (recursive) or a glob pattern ('posts/**/*.csv'); mixed
    types are routed by extension. Table options apply to every table found."""

    name = "files"

    def __init__(
        self,
        source: str,
        pattern: str | None = None,
        text_col: str | None = None,
        time_col: str | None = None,
        author_col: str | None = None,
        url_col: str | None = None,
        id_col: str | None = None,
        group_col: str | None = None,
        sheet: str | None = None,
        source_tz: str | None = None,
    ) -> None:
        self.source = source if _GLOB_CHARS & set(source) else local_source(source)
        self.pattern = pattern
        self.source_tz = source_tz  # for tables and pages alike
        self.table_options = {
            "text_col": text_col, "time_col": time_col, "author_col": author_col,
            "url_col": url_col, "id_col": id_col, "group_col": group_col, "sheet": sheet,
            "source_tz": source_tz,
        }

    def paths(self) -> list[Path]:
        """The files to read, sorted; hidden files and folders inside a folder are left out."""
        if _GLOB_CHARS & set(self.source):
            found = [Path(p) for p in glob.glob(self.source, recursive=True)]
            return sorted(p.resolve() for p in found if p.is_file())
        root = Path(self.source)
        if not root.is_dir():
            return [root]
        return sorted(
            p for p in root.rglob(self.pattern or "*")
            if p.is_file() and _known(p)
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """The entries of each file in turn; a file that cannot be read is one BadItem."""
        paths = self.paths()
        if not paths:
            yield Empty(self.source, "no files found", normal="no files yet")
            return
        for path in paths:
            yield from self._file(path, state)

    def _file(self, path: Path, state: dict[str, Any]) -> Iterator[Entry]:
        suffix = path.suffix.lower()
        if not path.is_file():
            yield BadItem(str(path), "no such file")
            return
        try:
            if suffix in TABLE_EXTENSIONS:
                yield from _with_source(
                    TableSource(str(path), **self.table_options).items(state), path)
            elif suffix in HTML_EXTENSIONS:
                from emolens.ingest.web import WebSource

                yield from _with_source(
                    WebSource(str(path), source_tz=self.source_tz).items(state), path)
            elif (kind := media_kind(path)) is not None:
                yield IngestItem(id=str(path), source=str(path), media=path,
                                 extra={"media": kind})
            else:
                yield Note(str(path), f"left out: {suffix or 'no extension'} is not a type "
                           "emolens reads")
        except EmolensError as exc:  # the file cannot be read at all; the others go on
            yield BadItem(str(path), str(exc).removeprefix(str(path)).lstrip(": ") or str(exc))


def _with_source(entries: Iterator[Entry], path: Path) -> Iterator[Entry]:
    """Entries of one file of a folder, each item's source set to that file."""
    for entry in entries:
        if isinstance(entry, IngestItem) and entry.source is None:
            entry.source = str(path)
        yield entry

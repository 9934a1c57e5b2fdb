"""Analyse many recordings: one timeline each, stored pack by pack, bad files reported.

A file that cannot be decoded is reported by name and the run goes on with the next one.
Segments are stored as soon as they are analysed, so a run stopped halfway through a long
recording keeps what it did, and running it again skips the stored segments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.batch import StoredResults, expand_paths
from emolens.errors import EmolensError
from emolens.types import EmotionResult

log = logging.getLogger(__name__)

# Containers whose audio PyAV reads; a folder is searched for these.
MEDIA_EXTENSIONS = frozenset(
    ".wav .flac .mp3 .m4a .aac .ogg .oga .opus .wma .aiff .aif .amr .webm .mp4 .m4v .mkv "
    ".mov .avi".split()
)


def expand_media(
    paths: Iterable[str | Path], extensions: Iterable[str] | None = None
) -> list[Path]:
    """Files as given, and each folder's media files (default: audio and video)."""
    return expand_paths(paths, frozenset(extensions or MEDIA_EXTENSIONS))


# analyze(path, stored, keep, progress) -> a timeline with .summary() (and .skipped):
# ``stored(key)`` gives a result from an earlier run; ``keep(results)`` gets every result,
# those read back from the store too, stores the new ones and hands all to the sink.
Analyze = Callable[
    [Path, Callable[[str], EmotionResult | None], Callable[[list[EmotionResult]], None],
     Callable[[float], None] | None],
    Any,
]


@dataclass
class AudioFileReport:
    path: str
    timeline: Any = None  # AudioTimeline or VideoTimeline
    error: str | None = None
    stored: int = 0

    @property
    def status(self) -> str:
        """'error' (nothing analysed), 'partial' (a part failed, e.g. a video's audio track
        that does not decode) or 'ok'."""
        if self.error:
            return "error"
        return "partial" if getattr(self.timeline, "failed", None) else "ok"


@dataclass
class AudioBatchReport:
    files: list[AudioFileReport] = field(default_factory=list)

    @property
    def status(self) -> str:
        """'ok', 'partial' (some files or parts of them failed) or 'error' (all failed)."""
        failed = sum(f.error is not None for f in self.files)
        if failed == 0:
            return "partial" if any(f.status == "partial" for f in self.files) else "ok"
        return "error" if failed == len(self.files) else "partial"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "files": [
                {
                    "path": f.path,
                    "status": f.status,
                    "error": f.error,
                    "stored": f.stored,
                    "skipped_existing": getattr(f.timeline, "skipped", 0),
                    "summary": f.timeline.summary() if f.timeline else None,
                }
                for f in self.files
            ],
        }


def analyze_media_paths(
    files: list[Path],
    analyze: Analyze,
    model_id: str,
    store: Any | None = None,
    store_text: str = "full",
    on_file: Callable[[Path], None] | None = None,
    progress: Callable[[float], None] | None = None,
    sink: Callable[[list[EmotionResult]], None] | None = None,
) -> AudioBatchReport:
    """Analyse each file in turn; errors are recorded per file and the run goes on."""
    report = AudioBatchReport()
    for path in files:
        if on_file is not None:
            on_file(path)
        entry = AudioFileReport(str(path))
        report.files.append(entry)

        def keep(results: list[EmotionResult], entry: AudioFileReport = entry) -> None:
            # Results read back from the store come too: the sink (--out) gets every one,
            # so a re-run or a resumed run writes the whole file; only new ones are stored.
            new = [r for r in results if not r.details.get("stored_before")]
            if store is not None and new:
                entry.stored += store.add(new, store_text=store_text)
            if sink is not None:
                sink(results)

        earlier = StoredResults(store, str(path), model_id)
        try:
            entry.timeline = analyze(path, earlier.get, keep, progress)
        except (EmolensError, OSError, RuntimeError, ValueError) as exc:
            # EmolensError: bad input we recognised; the others: a decoder or model failing
            # on this file, which must not end the batch either.
            entry.error = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            log.debug("audio file failed", exc_info=True)
    return report

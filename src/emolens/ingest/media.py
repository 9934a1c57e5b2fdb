"""Media files found by a connector, run through the existing audio and vision analyzers.

Each analyzer is loaded the first time a file needs it. When its extra is not installed (or
its model files are missing), its files are left out with a note that says what to install;
the texts of the same run are analysed all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.errors import EmolensError, MissingExtraError, ModelFileError

# kind -> loader() -> (analyze(path, stored, keep, progress), model id), as in the CLI.
Loader = Callable[[], tuple[Callable[..., Any], str]]


@dataclass
class MediaOutcome:
    """What happened to the media files of a run."""

    analysed: int = 0
    stored: int = 0
    errors: list[str] = field(default_factory=list)  # 'path: why', per file that failed
    notes: list[str] = field(default_factory=list)  # files left out, and why


def _speech(language: str | None, text_model: str | None) -> tuple[Callable[..., Any], str]:
    import emolens

    speech = emolens.load_speech(text_model=text_model)

    def analyze(path: Path, stored: Any, keep: Any, progress: Any) -> Any:
        return speech.analyze_file(path, language=language, stored=stored, on_results=keep,
                                   progress=progress)

    return analyze, speech.model_id


def _vision(image: bool, language: str | None,
            text_model: str | None) -> tuple[Callable[..., Any], str]:
    import emolens

    vision = emolens.load_vision(audio=not image, text_model=text_model)

    def analyze(path: Path, stored: Any, keep: Any, progress: Any) -> Any:
        timeline = (vision.analyze_image(path) if image
                    else vision.analyze_video(path, language=language, progress=progress))
        keep(timeline.results())
        return timeline

    return analyze, vision.image_model_id if image else vision.model_id


class MediaAnalyzers:
    """Audio, video and image analysis for a run, each loaded when first needed."""

    def __init__(self, language: str | None = None, text_model: str | None = None,
                 loaders: dict[str, Loader] | None = None) -> None:
        self.language, self.text_model = language, text_model
        self.loaders: dict[str, Loader] = loaders or {
            "audio": lambda: _speech(language, text_model),
            "video": lambda: _vision(False, language, text_model),
            "image": lambda: _vision(True, language, text_model),
        }
        self._loaded: dict[str, tuple[Callable[..., Any], str] | str] = {}

    def _load(self, kind: str) -> tuple[Callable[..., Any], str] | str:
        """The analyzer of ``kind``, or why it cannot be had."""
        if kind not in self._loaded:
            try:
                self._loaded[kind] = self.loaders[kind]()
            except (MissingExtraError, ModelFileError, ImportError) as exc:
                self._loaded[kind] = str(exc)
        return self._loaded[kind]

    def run(self, files: dict[str, list[Path]], store: Any | None,
            store_text: str) -> MediaOutcome:
        """Analyse and store the files of each kind ('audio', 'video', 'image')."""
        from emolens.audio.batch import analyze_media_paths

        outcome = MediaOutcome()
        for kind, paths in files.items():
            if not paths:
                continue
            loaded = self._load(kind)
            if isinstance(loaded, str):
                outcome.notes += [f"{path}: left out: {loaded}" for path in paths]
                continue
            analyze, model_id = loaded
            try:
                report = analyze_media_paths(paths, analyze, model_id, store, store_text)
            except EmolensError as exc:  # e.g. the store failing: every file of the kind
                outcome.errors += [f"{path}: {exc}" for path in paths]
                continue
            for entry in report.files:
                if entry.error:
                    outcome.errors.append(entry.error)
                else:
                    outcome.analysed += 1
                    outcome.stored += entry.stored
        return outcome

"""The `emolens` command: a thin Typer layer over the library.

This is the one place that turns library errors into messages for people and exit codes:
0 ok, 1 error, 2 usage error, 3 partial (some items failed, the rest were processed).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from functools import partial, wraps
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from emolens.config import load_settings
from emolens.display import (
    BatchProgress,
    console,
    err_console,
    evaluation_tables,
    results_table,
    show_batch_report,
    show_problems,
)
from emolens.errors import EmolensError
from emolens.ingest.commands import SourceTzOpt
from emolens.ingest.commands import register as register_ingest_commands
from emolens.llm.commands import register as register_llm_commands
from emolens.models.commands import register as register_models_commands
from emolens.server.commands import register as register_server_commands
from emolens.store.commands import SINCE_HELP, UNTIL_HELP, check_out
from emolens.store.commands import register as register_db_commands
from emolens.train.commands import register as register_train_commands
from emolens.train.commands import register_benchmark

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a program its pipe closed

app = typer.Typer(
    help="emolens: recognise the emotion expressed in text (English and Chinese), speech, "
    "images and video, offline.\n\n"
    "Results describe expressed emotion, never a person's inner state or a diagnosis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
analyze_app = typer.Typer(
    help="Analyse texts, files of texts, or recordings, and store the results.",
    no_args_is_help=True,
)
train_app = typer.Typer(help="Train a model on your own labelled data.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")
app.add_typer(train_app, name="train")


F = TypeVar("F", bound=Callable[..., Any])

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Recognizer name (default, lexicon, hf) or model directory."
    ),
]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or SQLAlchemy URL (env: EMOLENS_DB)")
]
LanguageOpt = Annotated[
    Literal["en", "zh"] | None,
    typer.Option("--language", "-l", help="Force 'en' or 'zh' instead of detecting."),
]


def friendly_errors(func: F) -> F:
    """Print emolens errors as one clear line and exit 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EmolensError as exc:
            # escaped: "pip install 'emolens[ray]'" is not markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True,
                              highlight=False)
            raise typer.Exit(EXIT_ERROR) from exc
        except BrokenPipeError as exc:
            # The reader of our output went away (`emolens ... --json | head`): stop quietly,
            # as other command-line tools do; what was stored stays stored. stdout is pointed
            # at /dev/null so that flushing it at exit does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_BROKEN_PIPE) from exc
        except OSError as exc:
            # A path that cannot be written or read (a file where a folder is wanted, no
            # permission, a full disk) is the user's to fix: say which, without a traceback.
            where = f" ({exc.filename})" if exc.filename else ""
            err_console.print(f"[bold red]error:[/] {escape((exc.strerror or str(exc)) + where)}",
                              soft_wrap=True, highlight=False)
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper  # type: ignore[return-value]



@contextmanager
def _errors_only_logged(quiet: bool) -> Iterator[None]:
    """With ``quiet``, emolens's logged warnings hidden inside the block (--quiet); the level
    is restored after it, for whoever runs commands in-process (tests, notebooks)."""
    logger = logging.getLogger("emolens")
    level = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _decoded(data: bytes) -> str:
    """Text piped in or typed in a terminal whose encoding may not be UTF-8: a BOM's
    encoding, else UTF-8, else GB18030 (Chinese Windows consoles and files), else
    Windows-1252 (Western ones), which decodes any bytes."""
    from emolens.io.encoding import bom_encoding

    for encoding in (bom_encoding(data), "utf-8", "gb18030"):
        if encoding is not None:
            with suppress(UnicodeDecodeError):
                return data.decode(encoding)
    return data.decode("cp1252", errors="replace")


@analyze_app.command("text")
@friendly_errors
def analyze_text(
    texts: Annotated[
        list[str], typer.Argument(help="One or more texts; '-' reads lines from stdin.")
    ],
    model: ModelOpt = None,
    language: LanguageOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON lines instead of a table.")
    ] = False,
    uncertain_below: Annotated[float | None, typer.Option(
        "--uncertain-below", min=0.0, max=1.0, help="Mark results whose top probability is "
        "below this as uncertain (the label is kept; JSON gets details.uncertain) "
        "(env: EMOLENS_UNCERTAIN_BELOW).")] = None,
) -> None:
    """Analyse texts given on the command line (not stored)."""
    from emolens.io.encoding import UNDECODABLE
    from emolens.pipeline import build_analyzer

    settings = load_settings(model=model, uncertain_below=uncertain_below)
    if "-" in texts and len(texts) > 1:
        raise typer.BadParameter("'-' reads the texts from stdin; give it alone",
                                 param_hint="TEXTS")
    if texts == ["-"]:
        texts = [line for line in _decoded(sys.stdin.buffer.read()).splitlines()
                 if line.strip()]
    else:  # bytes of an argument that are not UTF-8 arrive as lone surrogates
        texts = [_decoded(t.encode("utf-8", "surrogateescape")) if UNDECODABLE.search(t)
                 else t for t in texts]
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size,
                              max_chars=settings.max_text_chars,
                              uncertain_below=settings.uncertain_below)
    results = analyzer.analyze_batch(texts, language=language)
    if as_json:
        for r in results:
            typer.echo(json.dumps(r.to_dict(), ensure_ascii=False))
    else:
        console.print(results_table(results))


@analyze_app.command(
    "file",
    help="Analyse every text in CSV, TSV, JSONL, JSON, TXT, Parquet or Excel (.xlsx: the first "
    "sheet, or --sheet) files and store the results."
    "\n\nEncodings are detected (UTF-8, GB18030/GBK, Big5, Windows-1252, UTF-16 with a BOM, "
    "others by guess). Runs resume: items already stored for the model are skipped, so "
    "running it again analyses only new or changed rows. Stored results are never "
    "overwritten: a changed row is stored beside its earlier result (a file exported afresh "
    "each day keeps its history; emolens purge removes results). Rows that cannot be read are "
    "listed as file:row: message (the row counts data rows, not the header), and the exit "
    "status is then 3.",
)
@friendly_errors
def analyze_file_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, or folders to search (recursively) for them.")
    ],
    text_col: Annotated[str | None, typer.Option(
        "--text-col", help="Column with the text (default: the one named text, content, body, "
        "message, post, utterance, 内容, 微博内容 or 正文).")] = None,
    time_col: Annotated[str | None, typer.Option(
        "--time-col", help="Column with when the text was written (ISO, Unix time, ...; in "
        "a workbook a plain number is an Excel serial date); times without an offset are in "
        "--source-tz.")] = None,
    source_tz: SourceTzOpt = None,
    group_col: Annotated[str | None, typer.Option(
        "--group-col", help="Column to group results by (channel, speaker, brand, ...).")] = None,
    id_col: Annotated[str | None, typer.Option(
        "--id-col", help="Column with your own id of each item (copied to --out). With it, "
        "a re-run knows items by id, so rows added above them or moved are not analysed and "
        "stored again.")] = None,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="Excel workbooks: the sheet to read (default: the first).")] = None,
    model: ModelOpt = None,
    language: LanguageOpt = None,
    db: DbOpt = None,
    store_text: Annotated[Literal["full", "redacted", "hash", "none"] | None, typer.Option(
        "--store-text", help="Keep each text in the store, the text with emails, phones, ID "
        "numbers, URLs and @handles replaced (redacted), only its SHA-256, or nothing; "
        "--out follows the same choice (env: EMOLENS_STORE_TEXT).")] = None,
    no_store: Annotated[bool, typer.Option(
        "--no-store", help="Do not store results (nothing to resume or report on later).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the summary as JSON lines (one per file, then the totals).")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Also write every result of the run to a .csv, .jsonl or .parquet "
        "file. Items already stored are not analysed again: their results are read back from "
        "the store, so the file is complete.")] = None,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, help="Items read, analysed and committed together; a run that "
        "is killed loses at most one chunk, and running it again resumes.")] = 1000,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar, summary or warnings; errors only.")] = False,
    engine: Annotated[Literal["local", "ray"], typer.Option(
        "--engine", help="local: analyse in this process. ray: on Ray workers, each loading "
        "the model once (pip install 'emolens\\[ray]'); the same results, stored as they come "
        "back.")] = "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="--engine ray: the Ray cluster to join (ray://host:10001, "
        "host:6379 or auto; its nodes need emolens and the model installed; env: RAY_ADDRESS); "
        "default: start a local Ray instance for the run.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="--engine ray: Ray workers (actors), each with the model "
        "loaded once (default: 2).")] = None,
    worker_cpus: Annotated[float | None, typer.Option(
        "--worker-cpus", min=0.01, help="--engine ray: CPUs each worker takes (and threads it "
        "runs; default: 1).")] = None,
) -> None:
    """Analyse the texts of files and folders, storing results chunk by chunk (resumable)."""
    from emolens.batch import analyze_paths, check_options, expand_paths
    from emolens.io.results import ResultWriter
    from emolens.pipeline import build_analyzer
    from emolens.store import ResultStore

    settings = load_settings(db=db, model=model, store_text=store_text, source_tz=source_tz)
    check_options(language, settings.store_text, chunk_size)
    run = analyze_paths
    if engine == "ray":
        from emolens.batch_ray import RayOptions, analyze_paths_ray

        options = RayOptions(address, workers or 2, worker_cpus or 1.0)
        run = partial(analyze_paths_ray, model=settings.model, options=options)
    elif (address, workers, worker_cpus) != (None, None, None):
        raise typer.BadParameter("--address, --workers and --worker-cpus need --engine ray")
    if out is not None and any(Path(p).resolve() == out.resolve() for p in paths):
        # Opening the output truncates it: checked before anything is opened.
        raise typer.BadParameter(f"{out} is an input file; writing results there would "
                                 "overwrite it. Choose another --out file.", param_hint="--out")
    check_out(out)
    files = expand_paths(paths)
    if out is not None:  # a folder being analysed may hold the output of an earlier run
        files = [f for f in files if f.resolve() != out.resolve()]
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size,
                              max_chars=settings.max_text_chars)
    writer = None if out is None else ResultWriter(out, analyzer.output_labels,
                                                   settings.store_text)
    if no_store and out is None and not quiet:
        err_console.print("[yellow]warning:[/] with --no-store and no --out, results are not kept")
    with ExitStack() as stack:
        store = None if no_store else stack.enter_context(ResultStore(settings.db))
        if writer is not None:
            stack.enter_context(writer)
        bar = stack.enter_context(BatchProgress(files, enabled=not quiet))
        stack.enter_context(_errors_only_logged(quiet))  # errors only: logged warnings too
        try:
            report = run(
                files, analyzer, store, text_col=text_col, time_col=time_col,
                group_col=group_col, id_col=id_col, language=language,
                store_text=settings.store_text, chunk_size=chunk_size, progress=bar.advance,
                on_file=bar.on_file, sink=None if writer is None else writer.write,
                source_tz=settings.source_tz, sheet=sheet,
            )
        except KeyboardInterrupt:
            err_console.print("interrupted: every finished chunk is stored; run the same "
                              "command again to resume")
            raise typer.Exit(130) from None
    where = "not stored" if no_store else f"stored in {settings.db}"
    if ray_workers := getattr(report, "workers", None):
        peaks = ", ".join(f"{w.peak_rss / 2**20:,.0f}" for w in ray_workers.values())
        where += f"; Ray workers used: {len(ray_workers)} (peak memory {peaks} MiB)"
    show_batch_report(report, analyzer.model_id, where, out, as_json=as_json, quiet=quiet)
    show_problems(report, quiet, settings.max_text_chars)
    if report.skipped_existing and (time_col or group_col) and not quiet:
        # Resuming keeps stored rows as they are, so columns named only now are not in them.
        err_console.print(
            f"[yellow]note:[/] {report.skipped_existing:,} items were stored by an earlier run "
            "and kept as stored: --time-col/--group-col values are not added to them (--out "
            "has them). To store them with these columns, remove the earlier results "
            "(emolens purge --source FILE) and run again.", highlight=False, soft_wrap=True)
    raise typer.Exit({"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(report.status, EXIT_ERROR))



MEDIA_HELP = (
    "\n\nFiles that cannot be decoded are listed and the rest go on (exit status 3)."
)
AUDIO_STORING = (
    "\n\nSegments are stored as they are analysed; running the same command again skips "
    "what is stored."
)
# A video's or an image's results are fused over the whole file, so they are stored when the
# file is done: a run stopped in the middle of a file analyses that file again.
VISUAL_STORING = (
    "\n\nA file's results are stored when the file is done. Running the same command again "
    "analyses the files again but stores nothing twice."
)
AsrOpt = Annotated[str | None, typer.Option(
    "--asr-model", help="'base' (English + Chinese), 'tiny.en' (English, faster) or a "
    "CTranslate2 Whisper folder (env: EMOLENS_ASR_MODEL).")]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Do not store results.")]
MediaJsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print each file's results and summary as JSON lines.")]
MediaOutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Also write every result to a .csv, .jsonl or .parquet file.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")]
MediaModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="Text model (name or directory), or a model made by `emolens train "
    "audio|image`, which replaces the voice or face-expression model (env: EMOLENS_MODEL, "
    "EMOLENS_VOICE_MODEL, EMOLENS_FACE_MODEL).")]
MediaPaths = Annotated[
    list[Path], typer.Argument(help="Files, or folders to search (recursively) for them.")
]


@analyze_app.command(
    "audio",
    help="Analyse speech in audio files (wav, flac, mp3, m4a, ogg/opus, ...) or the audio "
    "track of videos: one result per utterance with its time span, transcript, the emotion "
    "in the voice, in the words, and both fused." + AUDIO_STORING + MEDIA_HELP,
)
@friendly_errors
def analyze_audio_cmd(
    paths: MediaPaths, language: LanguageOpt = None, asr_model: AsrOpt = None,
    model: MediaModelOpt = None, db: DbOpt = None, no_store: NoStoreOpt = False,
    as_json: MediaJsonOpt = False, out: MediaOutOpt = None, quiet: QuietOpt = False,
) -> None:
    """Analyse speech in recordings: a timeline of expressed emotion per file."""
    import emolens

    settings = load_settings(db=db, asr_model=asr_model, **_model_overrides(model, "audio"))
    with _loading(quiet, "speech, voice and text"):
        speech = emolens.load_speech(settings.asr_model, settings.voice_model, settings.model)

    def analyze(path, source, stored, keep, progress):
        return speech.analyze_file(path, language=language, stored=stored, on_results=keep,
                                   progress=progress, source=source)

    _run_media(paths, analyze, speech.model_id, settings, no_store, as_json, out, quiet,
               audio=True, labels=speech.output_labels)


@analyze_app.command(
    "video",
    help="Analyse videos (mp4, mkv, webm, avi, mov): every face tracked with its expression, "
    "on-screen text read and analysed, the audio track analysed as speech, all fused per "
    "second." + VISUAL_STORING + MEDIA_HELP,
)
@friendly_errors
def analyze_video_cmd(
    paths: MediaPaths, language: LanguageOpt = None,
    fps: Annotated[float, typer.Option(min=0.1, help="Frames sampled per second.")] = 5.0,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Leave the audio out.")] = False,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Do not read on-screen text.")]
    = False,
    keyframes: Annotated[Path | None, typer.Option(
        "--keyframes", help="Also draw a key-frame sheet of each video into this folder "
        "(DIR/<video>.keyframes.png): faces boxed with their expression, texts boxed.")]
    = None,
    model: MediaModelOpt = None, db: DbOpt = None, no_store: NoStoreOpt = False,
    as_json: MediaJsonOpt = False, out: MediaOutOpt = None, quiet: QuietOpt = False,
) -> None:
    """Analyse videos: faces, on-screen text and speech on one timeline."""
    import emolens
    from emolens.vision.keyframes import keyframe_sheet

    settings = load_settings(db=db, **_model_overrides(model, "video"))
    with _loading(quiet, "face, expression, OCR, speech and text"):
        vision = emolens.load_vision(audio=not no_audio, ocr=not no_ocr, fps=fps,
                                     face_model=settings.face_model, text_model=settings.model,
                                     voice_model=settings.voice_model,
                                     asr_model=settings.asr_model)

    analyze = _stored_at_end(
        lambda path, source, progress: vision.analyze_video(path, language=language,
                                                            progress=progress, source=source))
    pictures = None if keyframes is None else _Pictures(keyframes, keyframe_sheet, "keyframes")
    _run_media(paths, pictures.after(analyze) if pictures else analyze, vision.model_id,
               settings, no_store, as_json, out, quiet, video=True, pictures=pictures,
               labels=vision.output_labels)


@analyze_app.command(
    "image",
    help="Analyse images (jpg, png, webp, bmp; EXIF orientation honoured): every face with "
    "its expression and the image's text, fused." + VISUAL_STORING + MEDIA_HELP,
)
@friendly_errors
def analyze_image_cmd(
    paths: MediaPaths,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Do not read text in images.")]
    = False,
    annotate: Annotated[Path | None, typer.Option(
        "--annotate", help="Also write a copy of each image into this folder "
        "(DIR/<image>.annotated.png) with its faces and texts boxed and labelled.")] = None,
    model: MediaModelOpt = None, db: DbOpt = None, no_store: NoStoreOpt = False,
    as_json: MediaJsonOpt = False, out: MediaOutOpt = None, quiet: QuietOpt = False,
) -> None:
    """Analyse images: faces and text."""
    import emolens
    from emolens.vision.keyframes import annotate_image

    settings = load_settings(db=db, **_model_overrides(model, "image"))
    with _loading(quiet, "face, expression, OCR and text"):
        vision = emolens.load_vision(audio=False, ocr=not no_ocr,
                                     face_model=settings.face_model, text_model=settings.model)

    analyze = _stored_at_end(
        lambda path, source, progress: vision.analyze_image(path, source=source))
    pictures = None if annotate is None else _Pictures(annotate, annotate_image, "annotated")
    _run_media(paths, pictures.after(analyze) if pictures else analyze, vision.image_model_id,
               settings, no_store, as_json, out, quiet, images=True, pictures=pictures,
               labels=vision.output_labels)


def _stored_at_end(run: Callable[[Path, str, Any], Any]) -> Callable[..., Any]:
    """A media ``analyze`` for pipelines that store a file's results once it is done."""
    def analyze(path: Path, source: str, stored: Any, keep: Callable[[list], None],
                progress: Any) -> Any:
        timeline = run(path, source, progress)
        keep(timeline.results())
        return timeline

    return analyze


class _Pictures:
    """Draws a picture of each analysed file (a key-frame sheet, an annotated image) into
    a folder as <stem>.<kind>.png; one that cannot be drawn is a warning, not a failed file."""

    def __init__(self, folder: Path, draw: Callable[[Path, Any, Path], Path], kind: str) -> None:
        self.folder, self.draw, self.kind = folder, draw, kind
        self.written: list[tuple[Path, Path]] = []  # (analysed file, picture)
        self.failed: list[str] = []

    def after(self, analyze: Callable[..., Any]) -> Callable[..., Any]:
        """``analyze``, then the picture of what it found."""
        def run(path: Path, *args: Any) -> Any:
            timeline = analyze(path, *args)
            taken = {picture for _, picture in self.written}
            target, n = self.folder / f"{path.stem}.{self.kind}.png", 2
            while target in taken:  # same name in two folders
                target, n = self.folder / f"{path.stem}-{n}.{self.kind}.png", n + 1
            try:
                self.written.append((path, self.draw(path, timeline, target)))
            except (EmolensError, OSError, RuntimeError, ValueError) as exc:
                self.failed.append(f"{target} not drawn: {exc}")
            return timeline

        return run

    def show(self, as_json: bool, quiet: bool) -> None:
        """The pictures written (JSON lines with --json), then warnings on stderr."""
        from rich.markup import escape

        for path, picture in self.written:
            if as_json:
                typer.echo(json.dumps({"type": self.kind, "path": str(path),
                                       "picture": str(picture)}, ensure_ascii=False))
            elif not quiet:
                console.print(f"wrote {picture}", highlight=False, soft_wrap=True)
        for line in self.failed:
            err_console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)


def _model_overrides(model: str | None, kind: str) -> dict[str, str]:
    """--model of a media command: a text model, or a trained voice or face model; a face
    model for `analyze audio` or a voice model for `analyze image` is refused (InvalidInputError)
    rather than quietly replaced by the shipped one."""
    from emolens.config import Settings
    from emolens.errors import InvalidInputError
    from emolens.io.model_files import media_modality
    from emolens.train.media import model_overrides

    from_env = False
    if model is None:  # EMOLENS_MODEL may name a voice or face model, as --model may
        named = os.environ.get("EMOLENS_MODEL", "").strip()
        if named and media_modality(named) is not None:
            model, from_env = named, True
    overrides = model_overrides(model)
    if from_env:  # the text model is then the default one, not the media model's folder
        overrides["model"] = str(Settings.model_fields["model"].default)
    wrong = {"audio": ("face_model", "an image"), "image": ("voice_model", "an audio")}.get(kind)
    if wrong is not None and wrong[0] in overrides:
        raise InvalidInputError(f"{model} is {wrong[1]} model, not an {kind} one")
    return overrides


def _loading(quiet: bool, what: str) -> Any:
    return ExitStack() if quiet else console.status(f"loading the {what} models ...")


def _run_media(
    paths: list[Path], analyze: Any, model_id: str, settings: Any, no_store: bool,
    as_json: bool, out: Path | None, quiet: bool, audio: bool = False, video: bool = False,
    images: bool = False, pictures: _Pictures | None = None,
    labels: tuple[str, ...] | None = None,
) -> None:
    """Run ``analyze`` over the files, store, print, and exit with ok/partial/error."""
    from emolens.audio.batch import analyze_media_paths, expand_media
    from emolens.display import AudioProgress, show_audio_report
    from emolens.io.results import ResultWriter
    from emolens.labels import CANONICAL
    from emolens.store import ResultStore
    from emolens.vision.frames import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    check_out(out)
    kinds = (IMAGE_EXTENSIONS if images else frozenset()) | (
        VIDEO_EXTENSIONS if video else frozenset())
    files = expand_media(paths, kinds or None)
    # --out has a p_<label> column for every label a result may carry (own labels too).
    writer = None if out is None else ResultWriter(out, labels or CANONICAL,
                                                   settings.store_text)
    with ExitStack() as stack:
        store = None if no_store else stack.enter_context(ResultStore(settings.db))
        if writer is not None:
            stack.enter_context(writer)
        bar = stack.enter_context(AudioProgress(files, enabled=not quiet and not images))
        by_source = partial(_by_source, analyze, store, model_id,
                            "image" if images else "video" if video else "audio")
        try:
            report = analyze_media_paths(
                files, by_source, model_id, store, store_text=settings.store_text,
                on_file=bar.on_file, progress=bar.advance,
                sink=None if writer is None else writer.write,
            )
        except KeyboardInterrupt:
            err_console.print(
                "interrupted: every analysed segment is stored; run the same command again "
                "to resume" if audio else "interrupted: the files finished before it are "
                "stored; the one in progress is analysed again next time")
            raise typer.Exit(130) from None
    where = "not stored" if no_store else f"stored in {settings.db}"
    show_audio_report(report, model_id, where, as_json=as_json, quiet=quiet)
    if pictures is not None:
        pictures.show(as_json, quiet)
    if quiet or as_json:  # else a note in the table; a failed part makes the file partial
        for f in report.files:
            for part in getattr(f.timeline, "failed", []):
                err_console.print(f"[yellow]warning:[/] {escape(f.path)}: {escape(part)}",
                                  soft_wrap=True)
    raise typer.Exit({"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(report.status, EXIT_ERROR))


_MEDIA_NAMES = {"image": "jpg, png, webp, bmp", "video": "mp4, mkv, webm, avi, mov",
                "audio": "wav, flac, mp3, m4a, ogg, opus, mp4, ..."}


def _by_source(analyze: Any, store: Any, model_id: str, kind: str, path: Path, stored: Any,
               keep: Any, progress: Any) -> Any:
    """``analyze`` with the file's absolute path as its source, as `analyze file` stores text
    files (so that report, export and purge --source find it), and the results stored before
    read under that source."""
    from emolens.batch import StoredResults
    from emolens.errors import InvalidInputError

    if path.is_dir():  # a folder in which nothing matched
        raise InvalidInputError(f"{path}: no {kind} files ({_MEDIA_NAMES[kind]}) found")
    source = str(path.expanduser().resolve())
    return analyze(path, source, StoredResults(store, source, model_id).get, keep, progress)


@app.command("demo")
@friendly_errors
def demo_cmd(
    db: DbOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Where the report goes.")] = None,
    model: ModelOpt = None,
) -> None:
    """Analyse the bundled sample posts (English and Chinese): table, store, charts."""
    from emolens.demo import SAMPLE_POSTS, run_demo
    from emolens.pipeline import build_analyzer

    settings = load_settings(db=db, out_dir=out, model=model)
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size)
    with console.status("analysing the sample posts ..."):
        run = run_demo(analyzer, settings.db, settings.out_dir)
    console.print(results_table(run.results, title=f"{SAMPLE_POSTS.name}: {analyzer.model_id}",
                                max_text=70))
    console.print(f"{run.batch.stored} new results stored in [bold]{settings.db}[/] "
                  f"({run.batch.skipped_existing} were already there)", highlight=False)
    for path in run.report.files():
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)  # paths stay whole
    console.print("Open the HTML report in a browser. Results describe expressed emotion, "
                  "not anyone's inner state.")


@app.command("labels")
def show_labels() -> None:
    """Show the canonical labels and how every other label scheme maps onto them."""
    from emolens import labels as L

    table = Table(title="Label schemes -> canonical")
    table.add_column("scheme")
    for label in L.CANONICAL:
        table.add_column(label)
    for scheme, mapping in L.scheme_table().items():
        cells = [", ".join(k for k, v in mapping.items() if v == label) for label in L.CANONICAL]
        table.add_row(scheme, *cells)
    console.print(table)
    in_schemes = {k for mapping in L.scheme_table().values() for k in mapping}
    other = {k: v for k, v in L.ALIASES.items() if k not in in_schemes}
    console.print("other names mapped to canonical (any case; a model trained on labels that "
                  "all map reports canonical labels): " + "; ".join(
                      f"{label}: {', '.join(k for k, v in other.items() if v == label)}"
                      for label in L.CANONICAL if label in other.values()), highlight=False)
    console.print("valence/arousal anchors: " + ", ".join(
        f"{k} {v[0]:+.2f}/{v[1]:+.2f}" for k, v in L.VALENCE_AROUSAL.items()))


@train_app.command("text")
@friendly_errors
def train_text_cmd(
    data: Annotated[str, typer.Option("--data", help="Labelled CSV/TSV/JSONL/Parquet/.xlsx "
                                      "file.")],
    out: Annotated[str, typer.Option("--out", help="Directory to write the model to.")],
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column with the gold label.")] = "label",
    language_col: Annotated[
        str | None, typer.Option(help="Column with each row's language: en/zh (also EN, "
                                 "English, zh-CN, 中文...); empty or other cells are detected "
                                 "from the text.")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated label set (default: labels in the "
                                 "data). Rows with none of these labels are left out.")
    ] = None,
    single_label: Annotated[bool, typer.Option(
        "--single-label", help="Each label cell is one label, even if it holds ',' or '|' "
        "(default: such cells list several labels: multi-label data).")] = False,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="Excel workbooks: the sheet to read (default: the first).")] = None,
    dev: Annotated[
        str | None, typer.Option(help="Labelled dev file for calibration and a first score.")
    ] = None,
    name: Annotated[str, typer.Option(help="Model name stored with every result.")] = "custom",
    version: Annotated[str | None, typer.Option(
        help="Model version (default: a short hash of the trained model, so that each "
        "training has its own model id, the key its stored results are kept under).")] = None,
    c: Annotated[float | None, typer.Option("--c", help="Inverse regularisation strength "
                                            "(n-grams: 0.5; --encoder: chosen from 0.01, 0.1, "
                                            "1 by inner 3-fold CV).")] = None,
    min_df: Annotated[
        int, typer.Option(help="Keep n-grams seen in at least this many training texts.")
    ] = 2,
    encoder: Annotated[str, typer.Option(
        "--encoder", help="ngram: hashed word+char n-grams (default, fastest); minilm-en or "
        "e5-zh: a linear head on that shipped encoder's frozen mean-pooled states.")] = "ngram",
    cache_embeddings: Annotated[bool, typer.Option(
        "--cache-embeddings", help="With --encoder: keep embeddings in the cache dir, keyed by "
        "a hash of (encoder, text), so training again skips the encoder. They are derived "
        "from your texts: off by default.")] = False,
    balanced: Annotated[bool, typer.Option(help="Weight classes inversely to frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    group_col: Annotated[str | None, typer.Option(
        "--group-col", help="Column with each row's group (author, speaker): splits never put "
        "a group on both sides.")] = None,
    val_split: Annotated[float, typer.Option(
        "--val-split", min=0.0, max=0.9, help="Without --dev: hold out this share for "
        "calibration and validation numbers (0: calibrate on an internal 10 % hold-out, then "
        "refit on everything; no validation numbers).")] = 0.0,
    folds: Annotated[int | None, typer.Option(
        "--folds", min=2, help="K-fold cross-validation first (accuracy and macro-F1 mean ± sd "
        "over folds, stored in the model), then the model is fitted on all data.")] = None,
    abstain_below: Annotated[float | None, typer.Option(
        "--abstain-below", min=0.0, max=1.0, help="Store a threshold in the model: results "
        "whose top probability is below it get the label 'uncertain'.")] = None,
    finetune: Annotated[Literal["lora", "full", "top"] | None, typer.Option(
        "--finetune", help="With --encoder minilm-en|e5-zh: fine-tune the encoder itself "
        "(needs the train extra, torch; uses a GPU if there is one). lora: adapters, small "
        "output; full: every layer's weights; top: only the top --top-layers layers and the "
        "head (the lower layers run once: fast on a CPU). The model runs without torch.")
    ] = None,
    top_layers: Annotated[int | None, typer.Option(
        "--top-layers", min=1, help="--finetune top: how many top layers train (2).")] = None,
    epochs: Annotated[float | None, typer.Option(
        help="--finetune: passes over the data (lora and full 3, top 1).")] = None,
    lr: Annotated[float | None, typer.Option(
        "--lr", help="--finetune: peak learning rate (lora and top 3e-4, full 5e-5).")] = None,
    batch_size: Annotated[int, typer.Option(help="--finetune: texts per step.")] = 32,
    evals_per_epoch: Annotated[int | None, typer.Option(
        "--evals-per-epoch", min=1, help="--finetune: dev evaluations per epoch, evenly "
        "spaced, the last at its end (lora and full 2, top 1); the best macro-F1 is kept.")
    ] = None,
    patience: Annotated[int, typer.Option(
        help="--finetune: stop after this many dev evaluations without a better "
        "macro-F1.")] = 3,
    label_smoothing: Annotated[float | None, typer.Option(
        "--label-smoothing", min=0.0, max=0.99, help="--finetune: share of each target spread "
        "over the other labels (lora and full 0, top 0.3: kinder to noisy labels).")] = None,
    from_base: Annotated[bool, typer.Option(
        "--from-base", help="--finetune: start from the pretrained encoder, not the shipped "
        "emotion adapter.")] = False,
    device: Annotated[str, typer.Option(help="--finetune: auto, cpu or cuda.")] = "auto",
) -> None:
    """Train a text model (n-grams, a head on a frozen encoder, or a fine-tuned encoder),
    calibrated, on any label set."""
    from emolens.models.catalog import check_output_dir
    from emolens.train.commands import finetune_only_note, warn
    from emolens.train.data import parse_labels, read_labelled, reading_notes
    from emolens.train.text import (
        cross_validate_text,
        dev_label_note,
        label_notes,
        split_holdout,
        train_text,
    )

    check_output_dir(out)  # a folder of the user's own files is refused before any work
    if c is not None and not c > 0:
        raise typer.BadParameter(f"must be greater than 0, got {c:g}", param_hint="--c")
    if top_layers is not None and finetune != "top":
        from emolens.errors import InvalidInputError

        raise InvalidInputError("--top-layers goes with --finetune top")
    if finetune is None:
        warn([finetune_only_note(epochs=epochs, lr=lr, batch_size=batch_size,
                                 evals_per_epoch=evals_per_epoch, patience=patience,
                                 label_smoothing=label_smoothing, from_base=from_base,
                                 device=device)])
    if encoder != "ngram":
        from emolens.text.encoder_head import load_encoder

        model_encoder = load_encoder(encoder)  # an unknown name fails before reading data
    reading = dict(single_label=single_label, sheet=sheet)
    train_data = read_labelled(data, text_col, label_col, language_col, group_col, **reading)
    dev_data = read_labelled(dev, text_col, label_col, language_col, **reading) if dev else None
    warn([*reading_notes(train_data), *reading_notes(dev_data)])
    label_set = parse_labels(labels)
    if label_set is not None:  # a subset of the data's labels trains on that subset
        train_data, dropped = train_data.keep_labels(label_set)
        if dropped:
            warn([f"{data}: left out {dropped:,} rows with none of the labels in --labels"])
        if not train_data.texts:
            from emolens.errors import InvalidInputError

            raise InvalidInputError(f"{data}: no row has a label in --labels {labels!r}")
    warn([dev_label_note(dev_data, label_set or sorted(
        {x for item in train_data.label_sets() for x in item}))])
    if finetune is not None:
        from emolens.errors import InvalidInputError
        from emolens.train.commands import train_text_finetune_cmd
        from emolens.train.finetune import FinetuneOptions

        if encoder == "ngram" or folds or abstain_below is not None:
            raise InvalidInputError("--finetune needs --encoder minilm-en or e5-zh, and does "
                                    "not take --folds or --abstain-below")
        options = FinetuneOptions(mode=finetune, epochs=epochs, lr=lr, batch_size=batch_size,
                                  class_weight="balanced" if balanced else None, seed=seed,
                                  patience=patience, from_base=from_base, device=device,
                                  top_layers=top_layers or 2, evals_per_epoch=evals_per_epoch,
                                  label_smoothing=label_smoothing)
        train_text_finetune_cmd(train_data, dev_data, out, encoder, label_set, options,
                                name=name, version=version, val_split=val_split)
        return _say_canonical(label_set or sorted({x for item in train_data.label_sets()
                                                   for x in item}))
    if encoder != "ngram":
        from emolens.train.commands import train_text_encoder_cmd

        train_text_encoder_cmd(
            train_data, dev_data, out, encoder, model_encoder, label_set, name=name,
            version=version, c=c, balanced=balanced, seed=seed, val_split=val_split,
            folds=folds, abstain_below=abstain_below, cache=cache_embeddings)
        return _say_canonical(label_set or sorted({x for item in train_data.label_sets()
                                                   for x in item}))
    params = dict(c=0.5 if c is None else c, class_weight="balanced" if balanced else None,
                  seed=seed, min_df=min_df)
    cv = held_out = None
    all_labels = label_set or sorted({x for item in train_data.label_sets() for x in item})
    if folds:
        with console.status(f"{folds}-fold cross-validation on {len(train_data.texts):,} rows"):
            cv = cross_validate_text(train_data, folds, label_set, **params)
        _show_text_cv(cv)
    elif dev_data is None and (val_split > 0 or train_data.is_multilabel(label_set or ())):
        # multi-label data needs validation items to fit each label's threshold on
        train_data, held_out = split_holdout(train_data, val_split or 0.1, seed)
        dev_data = held_out
    warn(label_notes(all_labels, train_data, held_out))
    with console.status(f"training on {len(train_data.texts):,} rows of {data} ..."):
        model, metrics = train_text(
            train_data, out, labels=label_set, dev=dev_data, name=name, version=version,
            abstain_below=abstain_below, extra={"cross_validation": cv}, **params,
        )
    warn(f"no {language} head: every {language} training text is labelled {label}, so "
         f"{language} texts are scored by the {next(iter(model.heads_))} head"
         for language, label in model.skipped_languages_.items())
    console.print(f"saved [bold]{out}[/] as {model.name}@{model.version} (labels: "
                  f"{', '.join(model.labels)}; languages: {', '.join(sorted(model.heads_))})")
    _say_canonical(model.labels)
    if model.label_thresholds:
        console.print("multi-label: per-label thresholds fitted on the validation items "
                      "(results list their labels in details.labels): " + ", ".join(
                          f"{k} {v:.2f}" for k, v in model.label_thresholds.items()),
                      highlight=False)
    if metrics is not None:
        console.print(f"dev ({'hold-out' if dev is None else dev}; ECE "
                      f"{metrics.extra['ece']:.3f}): " + metrics.to_markdown(), highlight=False)


def _say_canonical(labels: Sequence[str]) -> None:
    """Tell the user when their labels are all names of canonical emotions, so that results
    come out in canonical labels rather than theirs."""
    from emolens import labels as L

    if set(labels) <= set(L.CANONICAL) or not L.is_mappable(labels):
        return
    pairs = ", ".join(f"{x} → {L.to_canonical(x)}" for x in labels)
    console.print(f"these labels all name canonical emotions ({pairs}), so `analyze` reports "
                  "canonical labels with valence and arousal; `evaluate` scores on your own "
                  "labels", highlight=False)


def _show_text_cv(cv: dict) -> None:
    for row in cv["folds"]:
        console.print(f"fold {row['fold']}: {row['n']:,} rows, accuracy {row['accuracy']:.3f}, "
                      f"macro-F1 {row['macro_f1']:.3f}, ECE {row['ece']:.3f}", highlight=False)
    console.print(f"{len(cv['folds'])}-fold{' by group' if cv['grouped'] else ''}: accuracy "
                  f"{cv['accuracy_mean']:.3f} ± {cv['accuracy_sd']:.3f}, macro-F1 "
                  f"{cv['macro_f1_mean']:.3f} ± {cv['macro_f1_sd']:.3f}, ECE "
                  f"{cv['ece_mean']:.3f}", highlight=False)


@app.command(
    "evaluate",
    help="Score a model on a labelled file and write an evaluation report.\n\n"
    "The report (report.json with every number, report.md, and report.html with a "
    "confusion-matrix heatmap and a reliability diagram) gives accuracy, macro- and "
    "weighted-F1 and per-class precision/recall/F1 with bootstrap 95 % confidence intervals, "
    "the confusion matrix, calibration (ECE over 15 bins), a risk-coverage curve and the most "
    "confident mistakes. A gold cell may hold several labels separated by ',' or '|' "
    "(GoEmotions); multi-label F1 and top-1-in-gold accuracy are then added.",
)
@friendly_errors
def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", help="Labelled test file (CSV, TSV, JSONL, "
                                      "JSON, Parquet or .xlsx).")],
    model: ModelOpt = None,
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(
        help="Column with the gold label; several labels may be separated by ',' or '|'."
    )] = "label",
    language_col: Annotated[str | None, typer.Option(
        help="Column with each row's language: en/zh (also EN, English, zh-CN, 中文...); empty "
        "or other cells are detected from the text.")] = None,
    single_label: Annotated[bool, typer.Option(
        "--single-label", help="Each gold cell is one label, even if it holds ',' or '|'.")
    ] = False,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="Excel workbooks: the sheet to read (default: the first).")] = None,
    scheme: Annotated[
        str | None,
        typer.Option(help="Map gold labels from this scheme (e.g. dair_emotion) to canonical."),
    ] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Comma-separated labels that the macro and weighted averages run over "
        "(default: the labels in the gold column). Predictions are not changed.")] = None,
    dev: Annotated[str | None, typer.Option(
        "--dev", help="Labelled validation file (same columns): a temperature and per-class "
        "multi-label thresholds are fitted on it and their effect on the test file reported."
    )] = None,
    report_dir: Annotated[str | None, typer.Option(
        "--report-dir", help="Folder for report.json, report.md and report.html (default: "
        "<out_dir>/eval-<model>-<time>, out_dir from EMOLENS_OUT_DIR, else emolens-out).")] = None,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", min=0, help="Bootstrap resamples for the 95 % confidence intervals "
        "(0: no intervals).")] = 1000,
    abstain_below: Annotated[float | None, typer.Option(
        "--abstain-below", min=0.0, max=1.0, help="Also report coverage and accuracy when items "
        "whose top probability is below this are set aside (abstained on).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    out: Annotated[str | None, typer.Option(
        help="Also write the short metrics JSON (+ .md) here, as before reports existed.")] = None,
    path_col: Annotated[str, typer.Option(
        "--path-col", help="For a model made by `emolens train audio|image`: the column with "
        "file paths (--data may also be a folder tree LABEL/FILE).")] = "path",
) -> None:
    """Accuracy, F1 with confidence intervals, calibration and mistakes of a model."""
    from emolens.io.model_files import media_modality
    from emolens.pipeline import build_analyzer
    from emolens.train.commands import warn
    from emolens.train.data import read_labelled, reading_notes
    from emolens.train.text import (
        evaluate_report,
        gold_overlap_note,
        metrics_from_report,
        write_metrics,
    )
    from emolens.viz.evaluation import write_evaluation

    settings = load_settings(model=model)
    if media_modality(settings.model) is not None:  # audio or image files, not texts
        from emolens.train.commands import evaluate_media_cmd

        evaluate_media_cmd(settings, data, path_col=path_col, label_col=label_col,
                           scheme=scheme, labels=labels, report_dir=report_dir,
                           bootstrap=bootstrap, abstain_below=abstain_below, seed=seed, out=out)
        return
    reading = dict(single_label=single_label, sheet=sheet)
    labelled = read_labelled(data, text_col, label_col, language_col, **reading)
    dev_data = read_labelled(dev, text_col, label_col, language_col, **reading) if dev else None
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size,
                              max_chars=settings.max_text_chars)
    own = set(analyzer.recognizer.labels)
    # gold cells listing several labels are documented above: no note about them here
    warn([*reading_notes(labelled, splits=False), *reading_notes(dev_data, splits=False)])
    gold = {x for item in labelled.label_sets(own) for x in item}
    if scheme is None and analyzer.map_to_canonical and gold <= own and not gold <= set(
            analyzer.output_labels):
        # Gold labels in the model's own scheme (e.g. dair's "love"): score on those labels,
        # not on the canonical ones the model reports by default.
        from emolens.pipeline import Analyzer

        analyzer = Analyzer(analyzer.recognizer, batch_size=settings.batch_size,
                            max_chars=settings.max_text_chars, map_to_canonical=False)
        console.print(f"scoring on the model's own labels ({', '.join(sorted(own))}); "
                      "--scheme NAME maps gold labels to canonical instead", highlight=False)
    warn([gold_overlap_note(labelled, list(analyzer.output_labels), scheme)])
    with console.status(f"evaluating {analyzer.model_id} on {len(labelled.texts):,} rows ..."):
        report = evaluate_report(
            analyzer, labelled, scheme=scheme, dev=dev_data, n_bootstrap=bootstrap, seed=seed,
            labels=[x.strip() for x in labels.split(",")] if labels else None,
            abstain_below=abstain_below,
        )
        folder = Path(report_dir) if report_dir else _eval_dir(settings.out_dir, analyzer)
        paths = write_evaluation(report, folder)
    summary = report.to_dict()
    console.print(evaluation_tables(summary, title=f"{analyzer.model_id} on {data}"))
    for path in paths.files():
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)  # paths stay whole
    if out:
        write_metrics(metrics_from_report(report), out)
        console.print(f"metrics written to {out}", highlight=False)


def _eval_dir(out_dir: str, analyzer: Any) -> Path:
    """<out_dir>/eval-<model name>-<UTC time>, a new folder per run."""
    import re
    from datetime import UTC, datetime

    name = re.sub(r"[^\w.-]+", "-", analyzer.recognizer.name).strip("-") or "model"
    return Path(out_dir) / f"eval-{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@app.command("report")
@friendly_errors
def report_cmd(
    db: DbOpt = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Folder for the report (env: EMOLENS_OUT_DIR)")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only results from this source.")] = None,
    group: Annotated[str | None, typer.Option(help="Only results in this group.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only results of this model, as stored "
                                 "(name@version; a name alone matches each of its versions; the "
                                 "report names them when several are mixed).")
    ] = None,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option(help=UNTIL_HELP)] = None,
    bucket: Annotated[
        Literal["hour", "day", "week", "month"] | None,
        typer.Option(help="Time bucket of the trend (default: from the time span, with about "
                     "10 or more results per bucket)."),
    ] = None,
    by: Annotated[
        Literal["group", "time"], typer.Option(help="Heatmap columns: groups or time buckets.")
    ] = "group",
) -> None:
    """Write charts (PNG) and one self-contained HTML report of stored results."""
    from pathlib import Path

    from emolens.errors import InvalidInputError
    from emolens.store import ResultStore
    from emolens.store.commands import parse_window, stored_models, stored_source
    from emolens.viz import write_report

    start, end = parse_window(since, until)  # as `emolens export` reads them
    settings = load_settings(db=db, out_dir=out)
    empty = f"no results in {settings.db}; run `emolens analyze ...` first"
    if "://" not in settings.db and not Path(settings.db).expanduser().exists():
        raise InvalidInputError(empty)  # don't create an empty database just to report on it
    with ResultStore(settings.db, must_exist=True) as store:  # not a foreign database
        total = store.count()
        # a relative path, or a folder whose files were analysed one by one, as stored
        stored, folder = stored_source(store, source) if source is not None else (None, False)
        models = None if model is None else stored_models(store, model)
        frame = store.to_frame(source=stored, folder=folder, group=group, model=models,
                               since=start, until=end)
    if total == 0:
        raise InvalidInputError(empty)
    if frame.empty:
        raise InvalidInputError(
            f"none of the {total:,} results in {settings.db} match the filters given"
        )
    with console.status(f"drawing {len(frame):,} results ..."):
        paths = write_report(frame, settings.out_dir, bucket=bucket, by=by)
    console.print(f"report of {len(frame):,} results written to "
                  f"[bold]{escape(str(paths.html))}[/]")
    for path in paths.files()[1:]:
        console.print(f"  {escape(str(path))}")
    for line in paths.skipped:
        console.print(f"  [dim]{escape(line)}[/]")
    for line in paths.mixed:  # after the paths, so that it is the last thing read
        err_console.print(f"[yellow]warning:[/] {escape(line)}; the charts pool them. Pass "
                          "--model with one of them to report on one model.", soft_wrap=True)


register_server_commands(app, friendly_errors)  # `emolens serve`, `emolens keys ...`
register_llm_commands(app, friendly_errors)  # `emolens explain`, `emolens llm ...`
register_db_commands(app, friendly_errors)  # `emolens db upgrade|current`, `purge`, `audit`
register_train_commands(train_app, friendly_errors)  # `emolens train audio|image`
register_models_commands(app, friendly_errors)  # `emolens models [list|info|remove]`
register_benchmark(app, friendly_errors)  # `emolens benchmark`
register_ingest_commands(app, friendly_errors)  # `emolens ingest`, `emolens watch`


def _summaries_on_one_line(typer_app: typer.Typer) -> None:
    """Give every command whose docstring wraps its first paragraph a one-line short help.

    The commands panel of `--help` prints a command's summary with its line breaks kept, so a
    docstring wrapped at the source's line length showed up broken mid-sentence there.
    """
    for info in typer_app.registered_commands:
        doc = inspect.getdoc(info.callback) if info.callback else None
        if info.short_help is None and info.help is None and doc:
            info.short_help = " ".join(doc.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _summaries_on_one_line(group.typer_instance)


_summaries_on_one_line(app)


def main() -> None:
    """Entry point of the `emolens` script."""
    app()


if __name__ == "__main__":
    main()

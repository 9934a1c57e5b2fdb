"""`emolens train audio|image` and the evaluation of media models (CLI layer only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from emolens.display import console, err_console

EXIT_PARTIAL = 3

DataOpt = Annotated[str, typer.Option(
    "--data", help="Labelled table (CSV/TSV/JSONL/JSON/Parquet: a file-path column and a label "
    "column; paths relative to the table's folder) or a folder tree LABEL/FILE.")]
OutOpt = Annotated[str, typer.Option("--out", help="Directory to write the model to.")]
PathColOpt = Annotated[str, typer.Option("--path-col", help="Column with the file path.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column with the gold label.")]
GroupColOpt = Annotated[str | None, typer.Option(
    "--group-col", help="Column with each item's group (speaker, person): no group is ever "
    "in both training and validation.")]
GroupRegexOpt = Annotated[str | None, typer.Option(
    "--group-regex", help="Take the group from each file name by this regex (its first "
    r"capture group), e.g. '-(\d+)\.\w+$' for the RAVDESS actor.")]
LabelsOpt = Annotated[str | None, typer.Option(
    "--labels", help="Comma-separated label set (default: the labels in the data). Rows "
    "with none of these labels are left out.")]
SingleLabelOpt = Annotated[bool, typer.Option(
    "--single-label", help="Each label cell is one label, even if it holds ',' or '|' "
    "(default: such a cell lists several labels, which a media head refuses).")]
SchemeOpt = Annotated[str | None, typer.Option(
    "--scheme", help="Label scheme of emolens.labels the labels belong to (default: found; "
    "'custom' keeps them as your own labels, without mapping to canonical).")]
DevOpt = Annotated[str | None, typer.Option(
    "--dev", help="Labelled validation data (same form as --data) instead of a hold-out; "
    "with --folds, the folds give mean ± sd and the dev data the temperature and the rest.")]
ValSplitOpt = Annotated[float, typer.Option(
    "--val-split", min=0.0, max=0.9, help="Share held out for validation when there is no "
    "--dev and no --folds (0: no validation, no calibration).")]
FoldsOpt = Annotated[int | None, typer.Option(
    "--folds", min=2, help="K-fold cross-validation (mean ± sd over folds), then a fit on "
    "all data with the temperature fitted on the out-of-fold predictions.")]
COpt = Annotated[float | None, typer.Option(
    "--c", min=1e-6, help="Inverse regularisation strength (default: chosen from 0.01, 0.1, "
    "1 by 3-fold cross-validation inside the training part).")]
BalancedOpt = Annotated[bool, typer.Option(
    "--balanced", help="Weight classes inversely to their frequency.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of splits and the learner.")]
AbstainOpt = Annotated[float | None, typer.Option(
    "--abstain-below", min=0.0, max=1.0, help="Store a threshold in the model: results whose "
    "top probability is below it get the label 'uncertain' (scores unchanged).")]
NameOpt = Annotated[str, typer.Option("--name", help="Model name stored with every result.")]
VERSION_HELP = ("Model version (default: a short hash of the trained model, so that each "
                "training has its own model id, the key its stored results are kept under).")
VersionOpt = Annotated[str | None, typer.Option("--version", help=VERSION_HELP)]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Feature cache, by file content (default: <EMOLENS_CACHE_DIR or "
    "~/.cache/emolens>/features); re-training with other options reuses it.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the "
                                                               "feature cache.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def register(train_app: typer.Typer, friendly_errors: Callable) -> None:
    """Add `train audio` and `train image` to the `emolens train` group."""
    train_app.command("audio")(friendly_errors(train_audio_cmd))
    train_app.command("image")(friendly_errors(train_image_cmd))


def train_audio_cmd(
    data: DataOpt, out: OutOpt, path_col: PathColOpt = "path", label_col: LabelColOpt = "label",
    group_col: GroupColOpt = None, group_regex: GroupRegexOpt = None, labels: LabelsOpt = None,
    single_label: SingleLabelOpt = False, scheme: SchemeOpt = None, dev: DevOpt = None,
    val_split: ValSplitOpt = 0.2,
    folds: FoldsOpt = None, c: COpt = None, balanced: BalancedOpt = False, seed: SeedOpt = 0,
    abstain_below: AbstainOpt = None, name: NameOpt = "custom", version: VersionOpt = None,
    whisper: Annotated[str, typer.Option(
        "--whisper", help="Whisper encoder of the features ('base', as the shipped voice "
        "model, or a CTranslate2 folder).")] = "base",
    no_trim_view: Annotated[bool, typer.Option(
        "--no-trim-view", help="Train on the clips as given only, not also trimmed to their "
        "speech (the speech pipeline hands the model utterances cut by voice activity).")]
    = False,
    cache_dir: CacheOpt = None, no_cache: NoCacheOpt = False, quiet: QuietOpt = False,
) -> None:
    """Train a voice-emotion head (Whisper encoder + acoustic statistics, logistic regression)
    on labelled audio files; use it with `emolens analyze audio --model DIR`."""
    _train("audio", locals(), {"whisper_name": whisper, "trim_view": not no_trim_view},
           {"whisper": whisper, "no_trim_view": no_trim_view})


def train_image_cmd(
    data: DataOpt, out: OutOpt, path_col: PathColOpt = "path", label_col: LabelColOpt = "label",
    group_col: GroupColOpt = None, group_regex: GroupRegexOpt = None, labels: LabelsOpt = None,
    single_label: SingleLabelOpt = False, scheme: SchemeOpt = None, dev: DevOpt = None,
    val_split: ValSplitOpt = 0.2,
    folds: FoldsOpt = None, c: COpt = None, balanced: BalancedOpt = False, seed: SeedOpt = 0,
    abstain_below: AbstainOpt = None, name: NameOpt = "custom", version: VersionOpt = None,
    face_model: Annotated[str, typer.Option(
        "--face-model", help="Face-expression CNN whose features are used ('default' or a "
        "model folder with a features output).")] = "default",
    no_detect: Annotated[bool, typer.Option(
        "--no-detect", help="Use every image whole (they are face crops already).")] = False,
    cache_dir: CacheOpt = None, no_cache: NoCacheOpt = False, quiet: QuietOpt = False,
) -> None:
    """Train a facial-expression head (the face CNN's features, logistic regression) on
    labelled images; use it with `emolens analyze image|video --model DIR`."""
    _train("image", locals(), {"face_model": face_model, "detect": not no_detect},
           {"face_model": face_model, "no_detect": no_detect})


def _train(modality: str, args: dict[str, Any], encoder_options: dict[str, Any],
           config: dict[str, Any]) -> None:
    from emolens.train.data import parse_labels
    from emolens.train.heads import HeadOptions
    from emolens.train.media import modality_module, read_media, select_labels, train_media

    encoder = modality_module(modality).Encoder(**encoder_options)
    read = dict(extensions=encoder.extensions, path_col=args["path_col"],
                label_col=args["label_col"], group_col=args["group_col"],
                group_regex=args["group_regex"])
    labelled = read_media(args["data"], **read)
    dev = read_media(args["dev"], **{**read, "group_col": None, "group_regex": None}) \
        if args["dev"] else None
    label_set, single = parse_labels(args["labels"]), args["single_label"]
    # Rows are chosen (and multi-label cells refused) before any feature is extracted.
    labelled, dropped = select_labels(labelled, label_set, single)
    warn([*labelled.notes, f"{args['data']}: left out {dropped:,} rows with none of the "
          "labels in --labels" if dropped else None])
    if dev is not None:
        dev, dropped = select_labels(dev, label_set or sorted(set(labelled.labels)), single)
        warn([f"{args['dev']}: left out {dropped:,} rows with a label the model does not "
              "have" if dropped else None])
    options = HeadOptions(c=args["c"], class_weight="balanced" if args["balanced"] else None,
                          seed=args["seed"], folds=args["folds"], val_split=args["val_split"],
                          abstain_below=args["abstain_below"])
    n = len(labelled.paths) + (len(dev.paths) if dev else 0)
    with feature_progress(n, enabled=not args["quiet"]) as on_file:
        trained = train_media(
            modality, labelled, args["out"], options, encoder=encoder,
            labels=label_set, single_label=single, scheme=args["scheme"], dev=dev,
            config={"scheme_given": args["scheme"], **config},
            name=args["name"], version=args["version"],
            cache_dir=cache_dir(args["cache_dir"], args["no_cache"]), on_file=on_file,
            say=None if args["quiet"] else lambda m: err_console.print(f"[dim]{m}[/]"),
        )
    show_trained(trained)
    if trained.extracted.bad:
        raise typer.Exit(EXIT_PARTIAL)


def cache_dir(given: Path | None, off: bool) -> Path | None:
    """The feature cache folder in effect (None when turned off)."""
    from emolens.config import cache_root

    return None if off else (given or cache_root() / "features")


@contextmanager
def feature_progress(total: int, enabled: bool = True) -> Iterator[Callable[[Path, bool], None]]:
    """A rich progress bar over files; yields the per-file callback (path, from cache)."""
    if not enabled or not err_console.is_terminal:
        yield lambda path, cached: None
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[dim]{task.fields[cached]} cached[/]"),
                        TimeRemainingColumn(), TextColumn("[dim]{task.fields[file]}[/]"),
                        console=err_console)
    task = progress.add_task("features", total=total, cached=0, file="")
    hits = 0

    def on_file(path: Path, cached: bool) -> None:
        nonlocal hits
        hits += cached
        progress.update(task, advance=1, cached=hits, file=path.name)

    with progress:
        yield on_file


@contextmanager
def text_progress(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Rich progress bars for embedding texts; yields (description, total) -> advance(k)."""
    if not enabled or not err_console.is_terminal:
        yield lambda description, total: lambda k: None
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err_console)

    def start(description: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(description, total=total)
        return lambda k: progress.update(task, advance=k)

    with progress:
        yield start


def train_text_encoder_cmd(train: Any, dev: Any, out: str, encoder_name: str, encoder: Any,
                           labels: list[str] | None, *, name: str, version: str | None,
                           c: float | None, balanced: bool, seed: int, val_split: float,
                           folds: int | None, abstain_below: float | None, cache: bool) -> None:
    """`emolens train text --encoder NAME`: embed, fit and validate a head, save, report."""
    import time

    from emolens.config import cache_root
    from emolens.train.heads import HeadOptions
    from emolens.train.text import label_notes, split_holdout
    from emolens.train.text_encoder import ENCODER_NOTES, train_text_encoder

    started = time.perf_counter()
    label_set = labels or sorted({x for item in train.label_sets() for x in item})
    held_out = None
    if dev is None and not folds and train.is_multilabel(labels or ()):
        # multi-label data needs validation items to fit each label's threshold on
        train, dev = split_holdout(train, val_split or 0.1, seed)
        held_out = dev
    warn(label_notes(label_set, train, held_out))
    # Without --dev or --folds, a hold-out (group-aware with --group-col) fits the temperature
    # and gives validation numbers: --val-split, or 10 % when it is 0.
    options = HeadOptions(c=c, class_weight="balanced" if balanced else None, seed=seed,
                          folds=folds, val_split=val_split or 0.1, abstain_below=abstain_below)
    with text_progress() as progress:
        trained = train_text_encoder(
            train, out, encoder_name, options, labels=labels, dev=dev, name=name,
            version=version, cache_dir=cache_root() / "embeddings" if cache else None,
            progress=progress, say=lambda m: console.print(m, highlight=False),
            encoder=encoder)
    s = trained.seconds
    console.print(f"embedded with {encoder_name} in {s['embedding']:.1f} s "
                  f"({trained.cached:,} from the cache); head fitted in {s['head']:.1f} s; "
                  f"{time.perf_counter() - started:.1f} s in all", highlight=False)
    console.print(validation_table(trained.validation.to_dict()))
    model = trained.recognizer
    console.print(f"saved [bold]{trained.directory}[/] as {model.name}@{model.version} "
                  f"(encoder {encoder_name}; labels: "
                  f"{', '.join(model.labels)}); see its MODEL_CARD.md", highlight=False)
    if encoder_name in ENCODER_NOTES:
        console.print(f"[dim]note: {ENCODER_NOTES[encoder_name]}[/]", highlight=False)


def train_text_finetune_cmd(train: Any, dev: Any, out: str, encoder_name: str,
                            labels: list[str] | None, options: Any, *, name: str,
                            version: str | None, val_split: float) -> None:
    """`emolens train text --finetune lora|full|top`: fine-tune the encoder, validate, save."""
    from emolens.train.finetune import finetune_text
    from emolens.train.text import label_notes, split_holdout

    options.extra["dev_given"] = dev is not None
    label_set = labels or sorted({x for item in train.label_sets() for x in item})
    held_out = None
    if dev is None:  # a hold-out (group-aware with --group-col) picks the step and calibrates
        train, dev = split_holdout(train, val_split or 0.1, options.seed)
        held_out = dev
    warn(label_notes(label_set, train, held_out))
    with text_progress() as progress:
        result = finetune_text(train, dev, out, encoder_name, options, labels=labels,
                               name=name, version=version, progress=progress,
                               say=lambda m: console.print(m, highlight=False))
    done = "stopped early" if result.stopped_early else f"{result.steps:,} steps"
    console.print(f"fine-tuned {encoder_name} ({options.mode}) on {result.device} in "
                  f"{result.seconds:.0f} s ({done}; best dev step {result.best_step:,})",
                  highlight=False)
    console.print(validation_table(result.validation))
    console.print(f"saved [bold]{result.directory}[/] (labels: {', '.join(result.labels)}); "
                  "runs without torch; see its MODEL_CARD.md", highlight=False)


def finetune_only_note(**given: Any) -> str | None:
    """A warning naming the --finetune options given without --finetune (they do nothing
    then); ``given`` holds each option's value, None/False/its default when not given."""
    defaults = {"batch_size": 32, "patience": 3, "device": "auto"}
    named = [f"--{key.replace('_', '-')}" for key, value in given.items()
             if value not in (None, False, defaults.get(key))]
    if not named:
        return None
    return (f"{', '.join(named)} only apply with --finetune lora|full|top, so they are "
            "ignored here")


def warn(lines: Iterable[str | None]) -> None:
    """Each line (None: nothing to say) as a warning on stderr."""
    for line in lines:
        if line:
            err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False,
                              soft_wrap=True)


def show_trained(trained: Any) -> None:
    """What was trained, the files skipped, and the validation numbers."""
    found = trained.extracted
    for path, why in found.bad[:50]:
        err_console.print(f"[yellow]skipped[/] {path}: {why}", highlight=False, soft_wrap=True)
    if len(found.bad) > 50:
        err_console.print(f"... and {len(found.bad) - 50} more unreadable files")
    notes = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in trained.notes.items())
    console.print(
        f"features of {len(found.kept):,} files in {trained.seconds['features']:.1f} s "
        f"({found.cached:,} from the cache){'; ' + notes if notes else ''}"
        f"{f'; {len(found.bad)} unreadable, skipped' if found.bad else ''}; head fitted in "
        f"{trained.seconds['head']:.1f} s", highlight=False)
    console.print(validation_table(trained.validation.to_dict()))
    warn([trained.validation.calibration_note])
    console.print(f"saved [bold]{trained.directory}[/] (labels: {', '.join(trained.labels)}; "
                  f"scheme {trained.scheme}); see its MODEL_CARD.md", highlight=False)


def validation_table(v: dict[str, Any]) -> Table:
    """Validation numbers as a table (fold mean ± sd where there are folds)."""
    table = Table(title=f"validation: {v['method']} ({v['n']:,} items)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if v["method"] == "none":
        table.add_row("not validated", "—")
        return table
    for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        if f"{key}_folds_mean" in v:
            table.add_row(f"{label} (mean ± sd, {len(v['folds'])} folds)",
                          f"{v[f'{key}_folds_mean']:.3f} ± {v[f'{key}_folds_sd']:.3f}")
        if f"{key}_folds_mean" not in v or v["method"] != "k-fold":  # --folds with --dev
            table.add_row(f"{label} ({v['method']})" if v.get("folds") else label,
                          f"{v[key]:.3f}")
    table.add_row("balanced accuracy", f"{v['balanced_accuracy']:.3f}")
    table.add_row("ECE before → after temperature", f"{v['ece']:.3f} → {v['ece_scaled']:.3f} "
                  f"(T = {v['temperature']:.2f})")
    if v.get("abstention"):
        ab = v["abstention"]
        table.add_row(f"coverage / accuracy at ≥ {ab['threshold']:g}",
                      f"{ab['coverage']:.1%} / {ab['accuracy_covered']:.3f}")
    return table


def evaluate_media(model: str, data: str, *, path_col: str, label_col: str,
                   scheme: str | None, labels: list[str] | None, n_bootstrap: int,
                   abstain_below: float | None, seed: int) -> tuple[Any, list]:
    """Evaluation report of a media model on labelled files, and the unreadable files."""
    import numpy as np

    from emolens import labels as L
    from emolens.train.data import LabelledData
    from emolens.train.media import extract, load_media_model, read_media
    from emolens.train.report import build_report
    from emolens.train.text import gold_label_sets

    media = load_media_model(model)
    labelled = read_media(data, media.encoder.extensions, path_col, label_col)
    _check_modality(labelled.paths, media.modality)
    with feature_progress(len(labelled.paths)) as on_file:
        found = extract(media.encoder, labelled.paths, cache_dir(None, False), on_file)
    if not found.kept:
        from emolens.errors import InvalidInputError

        raise InvalidInputError(f"{data}: none of the {len(labelled.paths)} files is readable")
    probs = media.head.predict_proba(np.stack([r[0] for r in found.rows]))
    output = list(media.labels)
    if scheme is not None:
        probs, output = probs @ L.mapping_matrix(media.labels, media.scheme), list(L.CANONICAL)
    names = [labelled.paths[i].name for i in found.kept]
    kept = LabelledData(names, [labelled.labels[i] for i in found.kept], None, labelled.source)
    gold = gold_label_sets(kept, scheme, output)
    meta = {"model": f"{media.name}@{media.version}", "data": str(labelled.source),
            "scheme": scheme, "modality": media.modality, "unreadable": len(found.bad)}
    report = build_report(gold, probs, output, texts=names,
                          average_over=labels, n_bootstrap=n_bootstrap, seed=seed,
                          abstain_below=abstain_below, meta=meta)
    return report, found.bad


def _check_modality(paths: list[Path], modality: str) -> None:
    """Refuse files of another modality than the model's, saying so (before extraction)."""
    from emolens.errors import InvalidInputError
    from emolens.train.media import modality_of_files

    found = modality_of_files(paths)
    if found is not None and found != modality:
        suffixes = ", ".join(sorted({p.suffix.lower() for p in paths}))
        kind = {"audio": "audio or video files", "image": "images"}.get(found, found)
        raise InvalidInputError(f"the files are {kind} ({suffixes}); this is an {modality} "
                                f"model: evaluate it on {modality} files, or pass a model "
                                f"trained with `emolens train {found}`")


def evaluate_media_cmd(settings: Any, data: str, *, path_col: str, label_col: str,
                       scheme: str | None, labels: str | None, report_dir: str | None,
                       bootstrap: int, abstain_below: float | None, seed: int,
                       out: str | None) -> None:
    """`emolens evaluate` of a media model: the same report, over files; exit 3 if some
    files could not be read."""
    from datetime import UTC, datetime

    from emolens.display import evaluation_tables
    from emolens.train.text import metrics_from_report, write_metrics
    from emolens.viz.evaluation import write_evaluation

    report, bad = evaluate_media(
        settings.model, data, path_col=path_col, label_col=label_col, scheme=scheme,
        labels=[x.strip() for x in labels.split(",")] if labels else None,
        n_bootstrap=bootstrap, abstain_below=abstain_below, seed=seed)
    name = Path(settings.model).name or "model"
    folder = Path(report_dir) if report_dir else (
        Path(settings.out_dir) / f"eval-{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    paths = write_evaluation(report, folder)
    console.print(evaluation_tables(report.to_dict(), title=f"{report.meta['model']} on {data}"))
    for path in paths.files():
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if out:
        write_metrics(metrics_from_report(report), out)
        console.print(f"metrics written to {out}", highlight=False)
    for path, why in bad:
        err_console.print(f"[yellow]skipped[/] {path}: {why}", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(EXIT_PARTIAL)


def register_benchmark(app: typer.Typer, friendly_errors: Callable) -> None:
    """Add `emolens benchmark`."""
    app.command("benchmark")(friendly_errors(benchmark_cmd))


def benchmark_cmd(
    data_dir: Annotated[Path, typer.Option(
        "--data-dir", help="The shared datasets (dair_emotion, goemotions, smp2020_ewect, "
        "fer2013, ravdess_speech).")] = Path("../shared/data"),
    eval_dir: Annotated[Path, typer.Option(
        "--eval-dir", help="Evaluation-only data (meld), never trained on.")]
    = Path("../shared/eval"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Subsample: 500 items per text set, ~500 FER crops, a quarter of "
        "the RAVDESS clips (figures then differ from the cards' by sampling).")] = False,
    only: Annotated[str, typer.Option(
        "--only", help="Comma-separated suites: text, faces, voice.")] = "text,faces,voice",
    text_models: Annotated[str, typer.Option(
        "--text-models", help="Comma-separated text recognizers to score (references exist "
        "for default, ngram, accurate, minilm-en, e5-zh).")] = "default",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the rows here.")]
    = None,
) -> None:
    """Re-measure the shipped models' published numbers on the shared test splits and print
    them beside the model cards' figures."""
    import json

    from emolens.errors import EmolensError
    from emolens.train import benchmark as B

    suites = [s.strip() for s in only.split(",") if s.strip()]
    unknown = sorted(set(suites) - set(B.SUITES))
    if unknown:
        raise typer.BadParameter(f"unknown suites {unknown}; use {list(B.SUITES)}",
                                 param_hint="--only")
    if not data_dir.is_dir():
        from emolens.errors import InvalidInputError

        raise InvalidInputError(f"{data_dir}: no such folder; pass --data-dir")
    runs = {
        "text": lambda: B.text_rows(data_dir, eval_dir if eval_dir.is_dir() else None,
                                    [m.strip() for m in text_models.split(",")], quick),
        "faces": lambda: B.face_rows(data_dir, quick),
        "voice": lambda: B.voice_rows(data_dir, quick, cache_dir(None, False)),
    }
    rows, skipped = [], []
    for suite in suites:
        try:
            with console.status(f"benchmark: {suite} ..."):
                rows += list(runs[suite]())
        except (EmolensError, OSError) as exc:
            skipped.append(f"{suite}: {exc}")
    console.print(_benchmark_table(rows, quick))
    for line in skipped:
        err_console.print(f"[yellow]not run[/] {line}", highlight=False, soft_wrap=True)
    if json_out is not None:
        json_out.write_text(json.dumps({"quick": quick, "rows": [r.to_dict() for r in rows],
                                        "not_run": skipped}, indent=1) + "\n")
    if skipped:
        raise typer.Exit(EXIT_PARTIAL)


def _benchmark_table(rows: list, quick: bool) -> Table:
    table = Table(title="emolens benchmark" + (" (--quick: subsampled)" if quick else ""))
    numbers = ("ours", "card", "Δ", "ECE", "n", "s")
    for column in ("suite", "model", "test set", "metric", *numbers):
        table.add_column(column, justify="right" if column in numbers else "left")
    for r in rows:
        delta = "" if r.reference is None else f"{r.ours - r.reference:+.3f}"
        table.add_row(r.suite, r.model, r.dataset, r.metric, f"{r.ours:.3f}",
                      "—" if r.reference is None else f"{r.reference:.3f}", delta,
                      "" if r.ece is None else f"{r.ece:.3f}", f"{r.n:,}", f"{r.seconds:.0f}")
    return table

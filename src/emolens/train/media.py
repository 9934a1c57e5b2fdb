"""Training heads on frozen media encoders: labelled files, cached features, saved models.

A modality is one module (``emolens.train.audio``, ``emolens.train.image``) that gives an
``Encoder`` (file -> feature rows, plus what the features depend on) and a ``load`` that turns
a saved head into the recognizer its pipeline uses. Everything else is shared here: reading a
table or a ``label/filename`` folder tree, caching features per file fingerprint, fitting and
validating the head (``heads.train_head``), and writing the model directory:

    emolens-model.json   type "media-head", modality, labels, scheme, encoder, head, config,
                         validation numbers, abstain_below
    weights.npz          standardisation, coefficients, temperature (+ encoder check arrays)
    MODEL_CARD.md        generated: data, encoder, head, validation, use, limits
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from emolens import labels as L
from emolens.errors import EmolensError, InvalidInputError, MissingExtraError, ModelFileError
from emolens.io.fingerprint import file_fingerprint
from emolens.io.model_files import media_modality
from emolens.train.heads import HeadOptions, LinearHead, Validation, train_head
from emolens.types import EmotionResult

MODEL_FILE = "emolens-model.json"
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "MODEL_CARD.md"
MODEL_TYPE = "media-head"
UNCERTAIN = "uncertain"
# Adding a modality = one module implementing Encoder/load + one line here.
MODALITIES = {"audio": "emolens.train.audio", "image": "emolens.train.image"}


class Encoder(Protocol):
    """A frozen feature extractor for one modality."""

    modality: str
    extensions: frozenset[str]

    def identity(self) -> dict[str, Any]:
        """JSON-safe description of everything the features depend on (models, versions)."""
        ...

    def features(self, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
        """Feature rows (views, dims) of one file (row 0: the file as given) and notes."""
        ...

    def check_arrays(self) -> dict[str, np.ndarray]:
        """Arrays saved with a head so that loading can check the encoder (may be empty)."""
        ...


def modality_module(modality: str) -> Any:
    """The module that implements ``modality``."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    return import_module(MODALITIES[modality])


# -- labelled files -------------------------------------------------------------------------


@dataclass
class MediaData:
    """Files with gold labels (and optional groups: speaker, person, actor)."""

    paths: list[Path]
    labels: list[str]
    groups: list[str] | None
    source: Path
    # How the data was read (--path-col, --group-col, ...): recorded in the model's config.
    reading: dict[str, Any] = field(default_factory=dict)
    # What the commands should tell the user about how the data was read.
    notes: list[str] = field(default_factory=list)


def read_media(
    source: str | Path, extensions: frozenset[str], path_col: str = "path",
    label_col: str = "label", group_col: str | None = None, group_regex: str | None = None,
) -> MediaData:
    """A CSV/TSV/JSONL/JSON/Parquet table (paths relative to its folder) or a folder tree
    ``label/filename``; groups from ``group_col`` or from file names by ``group_regex``."""
    from emolens.train.data import read_table
    from emolens.train.splits import groups_from_names

    source = Path(source)
    groups: list[str] | None = None
    notes: list[str] = []
    if source.is_dir():
        if group_col:
            raise InvalidInputError("--group-col needs a table; for a folder tree use "
                                    "--group-regex to take the group from file names")
        rows = [(path, folder.name) for folder in sorted(source.iterdir()) if folder.is_dir()
                for path in sorted(folder.rglob("*"))
                if path.is_file() and path.suffix.lower() in extensions]
        if not rows:
            raise InvalidInputError(
                f"{source}: no files with extensions {sorted(extensions)} under label folders "
                "(expected LABEL/FILE)")
        paths, labels = [p for p, _ in rows], [label for _, label in rows]
    elif source.is_file():
        frame = read_table(source)
        for column in (path_col, label_col, group_col):
            if column is not None and column not in frame.columns:
                raise InvalidInputError(
                    f"{source}: no column {column!r}; columns are {list(frame.columns)}")
        frame = frame.astype({path_col: str, label_col: str})
        frame = frame[(frame[path_col].str.strip() != "") & (frame[label_col].str.strip() != "")]
        if frame.empty:
            raise InvalidInputError(f"{source}: no rows with both a file path and a label")
        paths = [(source.parent / p.strip()) for p in frame[path_col]]
        labels = frame[label_col].str.strip().tolist()
        if group_col:
            groups = _groups(frame[group_col], group_col, source, notes)
    else:
        raise InvalidInputError(f"{source}: no such file or folder")
    if group_regex:
        groups = groups_from_names(paths, group_regex)
    reading = {"path_col": path_col if source.is_file() else None,
               "label_col": label_col if source.is_file() else None,
               "group_col": group_col, "group_regex": group_regex}
    return MediaData(paths, labels, groups, source, reading, notes)


def _groups(column: Any, group_col: str, source: Path, notes: list[str]) -> list[str]:
    """Each row's group; a blank cell makes its row a group of its own (never one group
    of all the rows whose group is unknown), and a note counts them."""
    values = column.fillna("").astype(str).str.strip().tolist()
    blank = [i for i, value in enumerate(values) if not value]
    if blank:
        notes.append(f"{source}: {len(blank):,} rows have an empty --group-col {group_col!r} "
                     "cell; each of them is treated as a group of its own (fill them in to "
                     "keep one person's or speaker's files on one side of every split)")
    return [value or f"(no group, row {i + 1})" for i, value in enumerate(values)]


def select_labels(data: MediaData, wanted: Sequence[str] | None = None,
                  single_label: bool = False) -> tuple[MediaData, int]:
    """The files to train on and how many rows were left out: with ``wanted`` (--labels) only
    the rows with one of those labels, as `train text` does. A cell listing several labels
    (',' or '|') is refused, since a media head learns one label per file, unless
    ``single_label`` keeps each cell whole as one label."""
    from emolens.train.data import LabelledData

    # The row numbers stand in for texts, so that LabelledData's label logic is reused as is.
    table = LabelledData([str(i) for i in range(len(data.paths))], list(data.labels), None,
                         data.source, single_label=single_label)
    dropped = 0
    if wanted:
        table, dropped = table.keep_labels(wanted)
    sets = table.label_sets(wanted or ())
    several = [(data.paths[int(i)], "|".join(x)) for i, x in zip(table.texts, sets, strict=True)
               if len(x) > 1]
    if several:
        shown = "; ".join(f"{path.name}: {cell!r}" for path, cell in several[:5])
        raise InvalidInputError(
            f"{data.source}: {len(several):,} label cells list several labels ({shown}"
            f"{'; ...' if len(several) > 5 else ''}); audio and image heads learn one label "
            "per file: give each file one label, name the ones to keep with --labels, or pass "
            "--single-label if each cell is one label whose name holds ',' or '|'")
    index = [int(i) for i in table.texts]
    out = MediaData([data.paths[i] for i in index], [x[0] for x in sets],
                    None if data.groups is None else [data.groups[i] for i in index],
                    data.source, {**data.reading, "single_label": single_label},
                    list(data.notes))
    return out, dropped


def modality_of_files(paths: Sequence[Path]) -> str | None:
    """The modality whose extensions every one of ``paths`` has (None: mixed or unknown)."""
    for modality, module in MODALITIES.items():
        extensions = import_module(module).file_extensions()
        if paths and all(Path(p).suffix.lower() in extensions for p in paths):
            return modality
    return None


# -- features -------------------------------------------------------------------------------


@dataclass
class Extracted:
    """Features of the files that could be read, and the ones that could not."""

    rows: list[np.ndarray]  # per kept file: (views, dims)
    notes: list[dict[str, Any]]
    kept: list[int]  # indices into the input paths
    bad: list[tuple[Path, str]] = field(default_factory=list)
    cached: int = 0
    seconds: float = 0.0


OnFile = Callable[[Path, bool], None]  # (path, came from the cache)


def extract(encoder: Encoder, paths: Sequence[Path], cache_dir: Path | None = None,
            on_file: OnFile | None = None) -> Extracted:
    """Features of every file (cached by content fingerprint); unreadable files are listed."""
    key = hashlib.sha1(json.dumps(encoder.identity(), sort_keys=True).encode(),
                       usedforsecurity=False).hexdigest()[:12]
    folder = None if cache_dir is None else Path(cache_dir) / f"{encoder.modality}-{key}"
    out = Extracted([], [], [])
    started = time.perf_counter()
    for i, path in enumerate(paths):
        cached = False
        try:
            where = None if folder is None else folder / f"{file_fingerprint(path)}.npz"
            found = _read_cached(where)
            if found is None:
                found = encoder.features(path)
                _write_cached(where, *found)
            else:
                cached = True
        except (MissingExtraError, ModelFileError):
            raise  # the encoder cannot run at all: not a problem of this file
        except FileNotFoundError:
            out.bad.append((path, "no such file"))
        except (EmolensError, OSError, ValueError, RuntimeError) as exc:
            out.bad.append((path, str(exc).replace(f"{path}: ", "")))
        else:
            out.rows.append(found[0])
            out.notes.append(found[1])
            out.kept.append(i)
            out.cached += cached
        if on_file is not None:
            on_file(path, cached)
    out.seconds = time.perf_counter() - started
    return out


def _read_cached(where: Path | None) -> tuple[np.ndarray, dict[str, Any]] | None:
    if where is None or not where.is_file():
        return None
    try:
        with np.load(where, allow_pickle=False) as data:
            return np.asarray(data["features"]), json.loads(str(data["notes"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache entry is recomputed


def _write_cached(where: Path | None, features: np.ndarray, notes: dict[str, Any]) -> None:
    if where is None:
        return
    where.parent.mkdir(parents=True, exist_ok=True)
    partial = where.with_suffix(f".{time.monotonic_ns()}.tmp.npz")
    np.savez(partial, features=features, notes=np.array(json.dumps(notes)))
    partial.replace(where)  # atomic: a concurrent reader never sees half a file


# -- training ---------------------------------------------------------------------------------


def resolve_scheme(labels: Sequence[str], scheme: str | None = None,
                   prefer: str | None = None) -> str:
    """'canonical' when every label is canonical; else the named scheme, or ``prefer``, or the
    first scheme holding all of them (so scores map to canonical); else 'custom' (the labels
    are kept as they are)."""
    if scheme is not None:
        if scheme != "custom":
            missing = [x for x in labels if x not in L.SCHEMES.get(scheme, {})]
            if scheme not in L.SCHEMES or missing:
                raise InvalidInputError(
                    f"--scheme {scheme!r}: " + (f"labels {missing} are not in it" if
                                                 scheme in L.SCHEMES else
                                                 f"unknown; known: {sorted(L.SCHEMES)} or "
                                                 "custom"))
        return scheme
    if set(labels) <= set(L.CANONICAL):
        return "canonical"
    for name, mapping in sorted(L.SCHEMES.items(), key=lambda item: item[0] != prefer):
        if set(labels) <= set(mapping):
            return name
    return "custom"


@dataclass
class Trained:
    """What ``train_media`` made: the model directory and how it was validated."""

    directory: Path
    labels: tuple[str, ...]
    scheme: str
    validation: Validation
    extracted: Extracted
    notes: dict[str, int]
    seconds: dict[str, float]


def train_media(
    modality: str,
    data: MediaData,
    out_dir: str | Path,
    options: HeadOptions,
    *,
    labels: Sequence[str] | None = None,
    scheme: str | None = None,
    dev: MediaData | None = None,
    name: str = "custom",
    version: str | None = None,
    cache_dir: Path | None = None,
    on_file: OnFile | None = None,
    say: Callable[[str], None] | None = None,
    encoder: Encoder | None = None,
    encoder_options: dict[str, Any] | None = None,
    single_label: bool = False,
    config: dict[str, Any] | None = None,
) -> Trained:
    """Extract (cached) features, fit and validate a head, and save the model directory
    (without ``version``, a hash of the head is the version: see ``save_model``). With
    ``labels``, rows with none of them are left out (``select_labels``); ``config`` adds
    the command's options to the saved training config."""
    from emolens.models.catalog import check_output_dir

    check_output_dir(out_dir)  # before the feature extraction, not after it
    module = modality_module(modality)
    data = select_labels(data, labels, single_label)[0]
    if not data.paths:
        raise InvalidInputError(f"{data.source}: no row has a label in --labels "
                                f"{list(labels or ())}")
    label_set = tuple(labels) if labels else tuple(sorted(set(data.labels)))
    if dev is not None:  # rows of labels the model does not have are left out before extraction
        dev = select_labels(dev, label_set, single_label)[0]
        if not dev.paths:
            raise InvalidInputError(f"{dev.source}: no row has one of the labels "
                                    f"{list(label_set)}")
    scheme = resolve_scheme(label_set, scheme, getattr(module, "SCHEME", None))
    encoder = encoder or module.Encoder(**(encoder_options or {}))
    paths = list(data.paths) + (list(dev.paths) if dev else [])
    found = extract(encoder, paths, cache_dir, on_file)
    n_train = len(data.paths)
    train_rows = [r for r, i in zip(found.rows, found.kept, strict=True) if i < n_train]
    kept = [i for i in found.kept if i < n_train]
    if len(set(data.labels[i] for i in kept)) < 2:
        raise InvalidInputError(f"{data.source}: fewer than two labels among the "
                                f"{len(kept)} readable files")
    index = {label: k for k, label in enumerate(label_set)}
    x, views = _stack_views(train_rows)
    y = np.array([index[data.labels[i]] for i in kept])
    groups = None if data.groups is None else [data.groups[i] for i in kept]
    dev_xy = None
    if dev is not None:
        rows = [(r, dev.labels[i - n_train]) for r, i in zip(found.rows, found.kept, strict=True)
                if i >= n_train]
        if not rows:
            raise InvalidInputError(f"{dev.source}: no readable files with a known label")
        dev_xy = (np.stack([r[0][0] for r in rows]), np.array([index[lab] for _, lab in rows]))
    started = time.perf_counter()
    head, validation = train_head(x, y, label_set, options, groups, views, dev_xy, say)
    seconds = {"features": round(found.seconds, 1),
               "head": round(time.perf_counter() - started, 1)}
    notes = _count_notes(found.notes)
    meta = {
        "type": MODEL_TYPE, "modality": modality, "name": name, "version": version,
        "labels": list(label_set), "scheme": scheme, "encoder": encoder.identity(),
        "head": {"kind": "logistic-regression (standardised features)", "C": head.c,
                 "class_weight": options.class_weight, "temperature": head.temperature_},
        "abstain_below": options.abstain_below,
        "config": {**options.to_dict(), "data": str(data.source),
                   "dev": None if dev is None else str(dev.source), **data.reading,
                   "labels": None if labels is None else list(labels), **(config or {})},
        "trained": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "items": len(kept),
            "bad_files": [f"{p.name}: {why}" for p, why in found.bad][:100],
            "label_counts": {lab: int((y == k).sum()) for lab, k in index.items()},
            "groups": None if groups is None else len(set(groups)),
            "views_per_item": 1 + len(views), "notes": notes, "seconds": seconds,
            "python": platform.python_version(),
        },
        "validation": validation.to_dict(),
    }
    directory = save_model(out_dir, head, meta, encoder.check_arrays())
    return Trained(directory, label_set, scheme, validation, found, notes, seconds)


def _stack_views(rows: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Item features (row 0 of each) and the extra views that every item has."""
    n_views = min(len(r) for r in rows)
    return (np.stack([r[0] for r in rows]),
            [np.stack([r[v] for r in rows]) for v in range(1, n_views)])


def _count_notes(notes: list[dict[str, Any]]) -> dict[str, int]:
    """How many files had each boolean note set (e.g. no_face)."""
    counts: dict[str, int] = {}
    for note in notes:
        for key, value in note.items():
            if value is True:
                counts[key] = counts.get(key, 0) + 1
    return counts


# -- saving and loading -------------------------------------------------------------------------


def save_model(out_dir: str | Path, head: LinearHead, meta: dict[str, Any],
               extra_arrays: dict[str, np.ndarray]) -> Path:
    """Write weights.npz, emolens-model.json and MODEL_CARD.md into ``out_dir``; a missing
    ``meta["version"]`` is set to a hash of the head (so two trainings never share an id)."""
    from emolens.models.catalog import check_output_dir, content_version
    from emolens.train.card import model_card

    directory = check_output_dir(out_dir)
    if not meta.get("version"):
        meta["version"] = content_version(head.arrays(), meta["labels"],
                                          meta.get("abstain_below"),
                                          meta.get("label_thresholds"))
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / WEIGHTS_FILE, **head.arrays(), **extra_arrays)
    (directory / MODEL_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    (directory / CARD_FILE).write_text(model_card(meta), encoding="utf-8")
    return directory


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The checked metadata of a media-head model directory."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{directory} is not a model directory: no {MODEL_FILE}") from exc
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{directory / MODEL_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("type") != MODEL_TYPE:
        raise ModelFileError(f"{directory} holds no {MODEL_TYPE} model")
    missing = [k for k in ("modality", "name", "version", "labels", "scheme", "encoder")
               if k not in meta]
    if missing or meta["modality"] not in MODALITIES:
        raise ModelFileError(f"{directory / MODEL_FILE} lacks {missing} or names an unknown "
                             f"modality {meta.get('modality')!r}")
    if meta["scheme"] != "custom":
        resolve_scheme(meta["labels"], meta["scheme"])
    return meta


def read_head(directory: Path, meta: dict[str, Any]) -> tuple[LinearHead, dict[str, np.ndarray]]:
    """The head saved in ``directory`` and the encoder check arrays beside it."""
    path = Path(directory) / WEIGHTS_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    needed = ("mean", "scale", "coef", "intercept", "temperature")
    if any(k not in arrays for k in needed):
        raise ModelFileError(f"{path} lacks {[k for k in needed if k not in arrays]}")
    head = LinearHead.from_arrays({k: arrays.pop(k) for k in needed})
    classes, dims = head.coef_.shape
    if classes != len(meta["labels"]) or head.mean_.shape != (dims,) or not all(
            np.isfinite(a).all() for a in (head.mean_, head.scale_, head.coef_)):
        raise ModelFileError(f"{path}: weights do not match its {len(meta['labels'])} labels "
                             "or hold non-finite values; retrain the model")
    return head, arrays


def model_overrides(model: str | None) -> dict[str, str]:
    """Which setting a ``--model`` value of `analyze audio|image|video` sets: a model made by
    `emolens train audio` is the voice model, one made by `train image` the face model, and
    anything else the text model. A model on the user's own labels is used too: the pipelines
    report its labels and leave it out of the fusion (which pools canonical scores)."""
    if model is None:
        return {}
    modality = media_modality(model)
    if modality is None:
        return {"model": model}
    read_meta(model)  # a broken model directory fails here, naming what is wrong
    return {"voice_model" if modality == "audio" else "face_model": model}


class MediaModel:
    """A trained head with the encoder it needs: files in, results out."""

    def __init__(self, encoder: Encoder, head: LinearHead, meta: dict[str, Any]) -> None:
        self.encoder = encoder
        self.head = head
        self.meta = meta
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.scheme: str = meta["scheme"]
        self.name: str = meta["name"]
        self.version: str = str(meta["version"])
        self.modality: str = meta["modality"]
        self.abstain_below: float | None = meta.get("abstain_below")

    def predict_proba_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Probabilities (n, labels) of each file as given; an unreadable file raises."""
        rows = [self.encoder.features(Path(p))[0][0] for p in paths]
        if not rows:
            return np.zeros((0, len(self.labels)))
        return self.head.predict_proba(np.stack(rows))

    def analyze_files(self, paths: Sequence[str | Path]) -> list[EmotionResult]:
        """One result per file on the model's labels (label 'uncertain' below abstain_below)."""
        probs = self.predict_proba_files(paths)
        return [result_from_probs(row, self.labels, self.scheme, self.abstain_below,
                                  modality=self.modality, model=f"{self.name}@{self.version}",
                                  source_id=str(p)) for p, row in zip(paths, probs, strict=True)]


def result_from_probs(probs: np.ndarray, labels: Sequence[str], scheme: str,
                      abstain_below: float | None, **fields: Any) -> EmotionResult:
    """An EmotionResult on the model's labels; below ``abstain_below`` its label is
    'uncertain' (scores unchanged, still summing to 1; details say which label was on top)."""
    scores = {label: float(p) for label, p in zip(labels, probs, strict=True)}
    top = max(scores, key=scores.__getitem__)
    details: dict[str, Any] = {}
    label = top
    if abstain_below is not None and scores[top] < abstain_below:
        label, details = UNCERTAIN, {"uncertain": True, "top": top, "abstain_below": abstain_below}
    va = None
    if scheme != "custom":
        canonical = np.asarray(probs) @ L.mapping_matrix(labels, scheme)
        va = L.valence_arousal(canonical[None])[0]
    return EmotionResult(label=label, scores=scores, valence=None if va is None else float(va[0]),
                         arousal=None if va is None else float(va[1]), details=details, **fields)


def load_media_model(directory: str | Path, **kwargs: Any) -> MediaModel:
    """The media model saved in ``directory`` (its encoder loaded and checked)."""
    meta = read_meta(directory)
    head, check = read_head(Path(directory), meta)
    encoder = modality_module(meta["modality"]).load_encoder(meta["encoder"], check, **kwargs)
    return MediaModel(encoder, head, meta)

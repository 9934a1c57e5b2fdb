"""Readers for the shared emotion datasets, shared by the benchmark scripts."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from emolens.labels import to_canonical


@dataclass
class Split:
    """Texts with gold labels; ``gold_sets`` holds every label of multi-label items."""

    name: str
    texts: list[str]
    gold: list[str]  # native label (first label for multi-label data)
    gold_sets: list[set[str]]
    language: str


def dair(root: Path, split: str) -> Split:
    """dair-ai emotion, native labels (sadness joy love anger fear surprise)."""
    lines = (root / f"dair_emotion/{split}.txt").read_text(encoding="utf-8").splitlines()
    pairs = [line.rsplit(";", 1) for line in lines]
    gold = [label for _, label in pairs]
    return Split(f"dair_emotion/{split}", [t for t, _ in pairs], gold, [{g} for g in gold], "en")


def goemotions(root: Path, split: str) -> Split:
    """GoEmotions, 28 native labels, multi-label."""
    names = (root / "goemotions/labels.txt").read_text().split()
    texts, sets = [], []
    for line in (root / f"goemotions/{split}.tsv").read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        texts.append(text)
        sets.append({names[int(i)] for i in ids.split(",")})
    first = [names[int(line.split("\t")[1].split(",")[0])] for line in
             (root / f"goemotions/{split}.tsv").read_text(encoding="utf-8").splitlines()]
    return Split(f"goemotions/{split}", texts, first, sets, "en")


def ekman(split: Split) -> Split:
    """GoEmotions mapped to the Ekman groups (= canonical labels), multi-label."""
    sets = [{to_canonical(label, "goemotions") or "neutral" for label in s}
            for s in split.gold_sets]
    first = [to_canonical(g, "goemotions") or "neutral" for g in split.gold]
    return Split(split.name + " (ekman)", split.texts, first, sets, "en")


def smp(root: Path, file: str) -> Split:
    """SMP2020-EWECT, native labels (neutral happy angry sad fear surprise)."""
    path = root / f"smp2020_ewect/{file}"
    if path.suffix == ".csv":
        with path.open(encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    else:
        records = json.loads(path.read_text(encoding="utf-8"))
    records = [r for r in records if r["content"].strip()]
    gold = [r["label"] for r in records]
    texts = [r["content"] for r in records]
    return Split(f"smp2020/{file}", texts, gold, [{g} for g in gold], "zh")


def meld(eval_root: Path, split: str = "test") -> Split:
    """MELD utterances (evaluation only: never train or tune on them)."""
    with (eval_root / f"meld/{split}_sent_emo.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    gold = [r["Emotion"] for r in rows]
    return Split(f"meld/{split}", [r["Utterance"] for r in rows], gold, [{g} for g in gold], "en")


def to_canonical_split(split: Split, scheme: str) -> Split:
    """Gold labels mapped from ``scheme`` to canonical."""
    gold = [to_canonical(g, scheme) or g for g in split.gold]
    sets = [{to_canonical(g, scheme) or g for g in s} for s in split.gold_sets]
    return Split(split.name, split.texts, gold, sets, split.language)

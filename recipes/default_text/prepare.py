"""Build the training and calibration tables of the shipped default text model.

Reads ../shared/data (train and dev splits only; test splits are for reporting) and writes
`train.csv` and `dev.csv` with columns text, label (canonical), language, dataset, native
(the dataset's own label, or a GoEmotions comment's labels joined by commas: the encoder
recipes can train auxiliary heads on them, see recipes/encoder_lora).

    python recipes/default_text/prepare.py --data ../shared/data --out runs/default_text
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path

from emolens.labels import to_canonical

Row = tuple[str, str, str, str, str]  # text, canonical label, language, dataset, native


def dair(path: Path) -> Iterator[Row]:
    """dair-ai emotion: `text;label` lines, love -> joy."""
    for line in path.read_text(encoding="utf-8").splitlines():
        text, label = line.rsplit(";", 1)
        yield text, to_canonical(label, "dair_emotion") or "", "en", "dair_emotion", label


def goemotions(path: Path, names: list[str]) -> Iterator[Row]:
    """GoEmotions TSV: one row per distinct Ekman group among a comment's labels."""
    for line in path.read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        native = [names[int(i)] for i in ids.split(",")]
        groups = {to_canonical(label, "goemotions") for label in native}
        for group in sorted(g for g in groups if g):
            yield text, group, "en", "goemotions", ",".join(native)


def smp(path: Path, dataset: str) -> Iterator[Row]:
    """SMP2020-EWECT, as the CSV (train) or JSON array (others) the shared folder holds."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    else:
        records = json.loads(path.read_text(encoding="utf-8"))
    for record in records:
        label = to_canonical(record["label"], "smp2020_ewect")
        if record["content"].strip() and label:
            yield record["content"], label, "zh", dataset, record["label"]


def write(rows: Iterator[Row], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "language", "dataset", "native"])
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/default_text"))
    args = parser.parse_args()
    d = args.data
    names = (d / "goemotions/labels.txt").read_text().split()

    def split(kind: str) -> Iterator[Row]:
        yield from dair(d / f"dair_emotion/{'train' if kind == 'train' else 'val'}.txt")
        yield from goemotions(d / f"goemotions/{'train' if kind == 'train' else 'dev'}.tsv", names)
        if kind == "train":
            yield from smp(d / "smp2020_ewect/usual_train.csv", "smp_usual")
            yield from smp(d / "smp2020_ewect/virus_train.json", "smp_virus")
        else:
            yield from smp(d / "smp2020_ewect/usual_eval_labeled.json", "smp_usual")
            yield from smp(d / "smp2020_ewect/virus_eval_labeled.json", "smp_virus")

    for kind in ("train", "dev"):
        n = write(split(kind), args.out / f"{kind}.csv")
        print(f"{args.out / f'{kind}.csv'}: {n} rows")


if __name__ == "__main__":
    main()

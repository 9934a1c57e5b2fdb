"""dair-ai emotion with its own 6 labels (love kept apart from joy), as encoder_lora reads it.

    python recipes/dair_native/prepare.py --data ../shared/data --out runs/dair_native
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/dair_native"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for source, split in (("train", "train"), ("val", "dev")):
        lines = (args.data / f"dair_emotion/{source}.txt").read_text(encoding="utf-8").splitlines()
        with (args.out / f"{split}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "language", "dataset"])
            for line in lines:
                text, label = line.rsplit(";", 1)
                writer.writerow([text, label.strip(), "en", "dair_emotion"])


if __name__ == "__main__":
    main()

"""When fine-tuning scores its dev set, and its per-mode defaults: no torch needed."""

from __future__ import annotations

import pytest

from emolens.errors import InvalidInputError
from emolens.train.finetune import TOP_SMOOTHING, FinetuneOptions, evaluation_steps


@pytest.mark.parametrize(("per_epoch", "total", "evals", "expected"), [
    (500, 500, 2, [250, 500]),                       # dair, one epoch, mid and end
    (500, 500, 1, [500]),
    (500, 1500, 2, [250, 500, 750, 1000, 1250, 1500]),
    (1237, 1237, 2, [618, 1237]),                    # odd epoch: not 1236 and again 1237
    (10, 26, 2, [5, 10, 15, 20, 26]),                # 2.6 epochs: 25 is too near 26
    (1, 1, 2, [1]),                                  # a one-batch set still gets scored
])
def test_evaluations_are_spread_over_epochs_and_end_on_the_last_step(
        per_epoch: int, total: int, evals: int, expected: list[int]) -> None:
    assert sorted(evaluation_steps(per_epoch, total, evals)) == expected


def test_top_mode_is_scored_at_epoch_ends_and_the_others_halfway_too() -> None:
    assert FinetuneOptions(mode="top").n_evals() == 1
    assert FinetuneOptions(mode="lora").n_evals() == 2
    assert FinetuneOptions(mode="full").n_evals() == 2
    assert FinetuneOptions(mode="top", evals_per_epoch=3).n_evals() == 3


def test_top_mode_smooths_its_labels_unless_told_otherwise() -> None:
    assert FinetuneOptions(mode="top").smoothing() == TOP_SMOOTHING > 0
    assert FinetuneOptions(mode="lora").smoothing() == 0.0
    assert FinetuneOptions(mode="full").smoothing() == 0.0
    assert FinetuneOptions(mode="top", label_smoothing=0.0).smoothing() == 0.0
    assert FinetuneOptions(mode="lora", label_smoothing=0.1).smoothing() == 0.1
    with pytest.raises(InvalidInputError, match="label-smoothing"):
        FinetuneOptions(mode="top", label_smoothing=1.0).check()

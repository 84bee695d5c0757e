import math

import pytest
import torch

from mtstrec.loss import bce_loss, sampled_softmax_loss


def plain_bce(scores, targets_per_row, negatives, negative_mask, scale):
    """The paper's loss, one example at a time, in plain Python."""
    total = 0.0
    for row in range(scores.shape[0]):
        n = targets_per_row[row]
        positive = sum(math.log(1 / (1 + math.exp(-scale * float(scores[row, t])))) for t in range(n)) / n
        negative = sum(
            math.log(1 - 1 / (1 + math.exp(-scale * float(scores[row, scores.shape[1] - negatives + j]))))
            for j in range(negatives) if negative_mask[row, j]
        )
        total += -(negatives * positive + negative) / (n + negatives)
    return total / scores.shape[0]


def plain_sampled_softmax(scores, targets_per_row, negatives, negative_mask, scale):
    total = 0.0
    width = scores.shape[1] - negatives
    for row in range(scores.shape[0]):
        negs = [scale * float(scores[row, width + j]) for j in range(negatives) if negative_mask[row, j]]
        per_target = []
        for t in range(targets_per_row[row]):
            pos = scale * float(scores[row, t])
            per_target.append(-(pos - math.log(math.exp(pos) + sum(math.exp(v) for v in negs))))
        total += sum(per_target) / len(per_target)
    return total / scores.shape[0]


@pytest.mark.parametrize("many_targets", [False, True])
@pytest.mark.parametrize("scale", [1.0, 5.0])
@pytest.mark.parametrize(("loss", "plain"), [(bce_loss, plain_bce), (sampled_softmax_loss, plain_sampled_softmax)])
def test_vectorised_loss_equals_per_example_loop(many_targets, scale, loss, plain):
    gen = torch.Generator().manual_seed(7)
    batch, width, negatives = 6, 5, 9
    targets_per_row = torch.randint(1, width + 1, (batch,), generator=gen).tolist() if many_targets else [1] * batch
    target_mask = torch.arange(width)[None, :] < torch.tensor(targets_per_row)[:, None]
    negative_mask = torch.rand(batch, negatives, generator=gen) > 0.2
    scores = torch.rand(batch, width + negatives, generator=gen) * 2 - 1
    got = float(loss(scores, target_mask, negative_mask, scale))
    assert got == pytest.approx(plain(scores, targets_per_row, negatives, negative_mask, scale), abs=1e-5)


def test_padded_target_slots_do_not_change_the_bce_loss():
    scores = torch.tensor([[0.3, 0.9, -0.2, 0.1]])  # one target then a padded slot, two negatives
    padded = bce_loss(scores, torch.tensor([[True, False]]), torch.ones(1, 2, dtype=torch.bool))
    unpadded = bce_loss(scores[:, [0, 2, 3]], torch.tensor([[True]]), torch.ones(1, 2, dtype=torch.bool))
    assert float(padded) == pytest.approx(float(unpadded), abs=1e-7)

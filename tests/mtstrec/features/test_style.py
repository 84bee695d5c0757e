"""The Gram-matrix style vector against a hand computation."""

from __future__ import annotations

import torch
from torch import nn

from mtstrec.features.style import GramStyleEncoder, gram_matrix, gram_style_vector


def test_gram_matrix_is_normalised_channel_products():
    fmap = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, C=2, 2, 2)
    # Channel a = (1, 2, 3, 4), b = (0, 1, 0, 1); C*H*W = 8.
    expected = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    torch.testing.assert_close(gram_matrix(fmap), expected)


def test_style_vector_matches_hand_computed_gram_pool_and_concat():
    torch.manual_seed(0)
    first = torch.randn(1, 4, 3, 3)  # C = 4: a 4 x 4 Gram, max-pooled 2 x 2 to a 2 x 2 grid
    second = torch.randn(1, 2, 5, 5)  # C = 2: the 2 x 2 Gram is already the grid
    vector = gram_style_vector([first, second], grid=2)
    assert vector.shape == (1, 8)

    flat = first[0].reshape(4, 9)
    gram = [[float(flat[i] @ flat[j]) / (4 * 9) for j in range(4)] for i in range(4)]
    pooled = [max(gram[r][c] for r in rows for c in cols)
              for rows in ((0, 1), (2, 3)) for cols in ((0, 1), (2, 3))]
    flat2 = second[0].reshape(2, 25)
    gram2 = [float(flat2[i] @ flat2[j]) / (2 * 25) for i in range(2) for j in range(2)]
    torch.testing.assert_close(vector[0], torch.tensor(pooled + gram2), rtol=1e-5, atol=1e-6)


def test_paper_shape_64_channels_pools_4x4_to_256_values_per_layer():
    conv1 = torch.rand(2, 64, 8, 8)
    vector = gram_style_vector([conv1, conv1 * 2], grid=16)
    assert vector.shape == (2, 512)
    gram = gram_matrix(conv1)
    assert torch.isclose(vector[0, 0], gram[0, :4, :4].max())  # first cell = max of the top-left 4 x 4 block
    torch.testing.assert_close(vector[:, 256:], vector[:, :256] * 4)  # doubled maps -> 4x Gram


class _TwoConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1, stride=2)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv2(self.conv1(x)).mean(dim=(2, 3)))


def test_encoder_reads_the_named_layers_of_any_cnn():
    torch.manual_seed(0)
    cnn = _TwoConvs().eval()
    images = torch.rand(3, 3, 16, 16)
    encoder = GramStyleEncoder(cnn, ["conv1", "conv2"], grid=4)
    expected = gram_style_vector([cnn.conv1(images), cnn.conv2(cnn.conv1(images))], grid=4)
    torch.testing.assert_close(encoder(images), expected)
    assert encoder(images).shape == (3, 32)


def test_encoder_stops_after_the_last_needed_layer():
    class _Unreachable(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("the head must not run")

    cnn = _TwoConvs().eval()
    cnn.head = _Unreachable()
    assert GramStyleEncoder(cnn, ["conv1", "conv2"], grid=4)(torch.rand(1, 3, 8, 8)).shape == (1, 32)

"""The embedded real weights give meaningful neighbours (models load once per module)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mtstrec.features.config import ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.encoders import build_image_encoder, build_style_encoder, build_text_encoder
from mtstrec.features.text_views import item_text
from tests.mtstrec.features.feature_fixtures import striped_image

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def minilm():
    return build_text_encoder(TextEncoderConfig(), "features.text", CPU, 8)


@pytest.fixture(scope="module")
def efficientnet():
    return build_image_encoder(ImageEncoderConfig(), CPU)


@pytest.fixture(scope="module")
def style():
    return build_style_encoder(StyleConfig(), CPU)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_minilm_puts_two_trousers_closer_than_trousers_and_perfume(minilm):
    assert minilm.info.weights == "real" and minilm.info.dim == 384
    texts = [
        item_text("Slim jeans", "Five-pocket trousers in washed stretch denim with a zip fly."),
        item_text("Chino trousers", "Cotton twill trousers with side pockets and a regular waist."),
        item_text("Eau de parfum", "A floral fragrance with notes of jasmine and vanilla, 50 ml."),
    ]
    jeans, chinos, perfume = minilm.encode(texts)
    assert _cos(jeans, chinos) > _cos(jeans, perfume) + 0.1
    assert _cos(jeans, chinos) > _cos(chinos, perfume) + 0.1


def _checks(colour: tuple[int, int, int], cell: int, size: int = 96) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size]
    mask = ((x // cell + y // cell) % 2).astype(bool)
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[mask] = colour
    pixels[~mask] = (250, 250, 250)
    return Image.fromarray(pixels)


def _batch(*images: Image.Image) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(i.resize((96, 96)))).permute(2, 0, 1) for i in images])


@pytest.mark.parametrize("encoder_name", ["efficientnet", "style"])
def test_efficientnet_puts_same_colour_and_pattern_closer(encoder_name, request):
    encoder = request.getfixturevalue(encoder_name)
    assert encoder.info.weights == "real"
    red_stripes_a = striped_image((200, 20, 20), stripe=6, size=96, seed=1)
    red_stripes_b = striped_image((205, 25, 15), stripe=6, size=96, seed=2).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    green_checks = _checks((20, 140, 40), cell=12)
    with torch.inference_mode():
        a, b, other = encoder(_batch(red_stripes_a, red_stripes_b, green_checks))
    assert _cos(a, b) > _cos(a, other)
    assert _cos(a, b) > _cos(b, other)

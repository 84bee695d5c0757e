"""Every default encoder, and open_clip with random weights, builds with the network unreachable."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from mtstrec.features.config import ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.encoders import build_image_encoder, build_style_encoder, build_text_encoder

CPU = torch.device("cpu")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a feature-extraction test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_hugging_face_is_offline_once_features_is_imported():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_all_encoders_build_and_encode_without_network(no_network):
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    assert build_style_encoder(StyleConfig(), CPU)(images).shape == (2, 512)
    assert build_image_encoder(ImageEncoderConfig(), CPU)(images).shape == (2, 1280)
    clip = build_image_encoder(ImageEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights=""), CPU)
    assert clip(images).shape == (2, 384)
    assert build_text_encoder(TextEncoderConfig(), "features.text", CPU, 4).encode(["blue jeans"]).shape == (1, 384)
    clip_text = TextEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights="")
    assert build_text_encoder(clip_text, "features.text", CPU, 4).encode(["blue jeans"]).shape == (1, 384)

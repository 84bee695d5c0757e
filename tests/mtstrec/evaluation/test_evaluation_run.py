"""evaluate_run reads the feature tags stored with the model, or fails clearly without them."""

import pytest
import torch

from mtstrec.errors import DataError
from mtstrec.evaluation.run import stored_feature_tags
from mtstrec.training import checkpoint


def test_feature_tags_come_from_model_pt(tmp_path):
    checkpoint.save_atomic({"feature_tags": {"text": "minilm", "price": "minmax"}, "state_dict": {}},
                           tmp_path / "model.pt")
    assert stored_feature_tags(tmp_path) == {"text": "minilm", "price": "minmax"}


def test_a_model_without_feature_tags_is_a_clear_error(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(DataError, match=r"model\.pt records no feature tags"):
        stored_feature_tags(tmp_path)

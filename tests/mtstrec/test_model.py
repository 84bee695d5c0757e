import dataclasses

import pytest
import torch

from mtstrec.config import ModelConfig
from mtstrec.data.item_features import ItemFeatureStore, ModalityTable
from mtstrec.model import MTSTRec
from tests.mtstrec.model_configs import small_config

NUM_ITEMS = 30
ALL = ["id", "style", "image", "text", "prompt", "price"]


def make_store(absent_item: int = 3) -> ItemFeatureStore:
    gen = torch.Generator().manual_seed(0)

    def table(kind, shape):
        present = torch.ones(NUM_ITEMS + 1, dtype=torch.bool)
        present[absent_item] = False
        return ModalityTable(kind, torch.randn(NUM_ITEMS + 1, *shape, generator=gen), present, "test", {})

    return ItemFeatureStore(NUM_ITEMS, {
        "style": table("vector", [12]), "image": table("vector", [10]), "text": table("vector", [8]),
        "prompt": table("views", [3, 8]), "price": table("scalar", [1]),
    })


def model_config(modalities) -> ModelConfig:
    base = small_config("/unused", "unused", "model.max_len=5").model
    return dataclasses.replace(base, modalities=list(modalities))


def build(modalities, **changes) -> MTSTRec:
    torch.manual_seed(0)
    cfg = dataclasses.replace(model_config(modalities), **changes)
    return MTSTRec(cfg, NUM_ITEMS, make_store().shapes())


def histories() -> torch.Tensor:
    h = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7]])  # (B=3, L=5), item 3 has no features
    return h


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_turning_a_modality_off_removes_its_parameters_and_output_width():
    full = build(ALL)
    for dropped in ALL:
        kept = [m for m in ALL if m != dropped]
        smaller = build(kept)
        expected = count(full) - count(full.encoders[dropped])
        assert count(smaller) == expected
        assert smaller.out_dim == full.out_dim - full.encoders[dropped].out_dim
        users = smaller.encode_histories(histories(), make_store())
        assert users.shape == (3, smaller.out_dim)
    # d_model = 32 per modality head, 1 for the paper's price head
    assert full.out_dim == 5 * 32 + 1


@pytest.mark.parametrize("candidate_grad", [False, True])
def test_gradients_reach_every_active_modality(candidate_grad):
    model = build(ALL, candidate_grad=candidate_grad)
    candidates = torch.tensor([[6, 8, 9], [10, 11, 12], [13, 3, 1]])
    scores = model(histories(), candidates, make_store())
    assert scores.shape == (3, 3)
    scores.sum().backward()
    for name, encoder in model.encoders.items():
        without_grad = [n for n, p in encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not without_grad, f"{name}: no gradient for {without_grad}"
    assert model.shared_tokens.grad is not None and model.shared_tokens.grad.abs().sum() > 0


def test_stop_gradient_on_the_candidate_side_by_default():
    """With candidate_grad off, scores move only through the user side: an embedding row used only
    as a candidate gets no gradient."""
    model = build(["id"])
    scores = model(histories(), torch.tensor([[20], [21], [22]]), make_store())
    scores.sum().backward()
    grad = model.encoders["id"].input.embedding.weight.grad
    assert grad[20:23].abs().sum() == 0
    assert grad[[4, 5, 7]].abs().sum() > 0


def _reference_user_representation(model: MTSTRec, h: torch.Tensor, store) -> torch.Tensor:
    """Every layer computed in full (no CLOZE-only shortcut in the last layer), written out plainly."""
    from mtstrec.fusion import fusion_mask, self_attention_mask

    valid = torch.cat([h != 0, torch.ones(h.shape[0], 1, dtype=torch.bool)], dim=1)
    x = {m: e.embed_sequence(e.input(h.flatten(), store).view(*h.shape, -1)) for m, e in model.encoders.items()}
    for m, e in model.encoders.items():
        for block in e.blocks:
            x[m] = block(x[m], self_attention_mask(valid))
    tokens = model.shared_tokens.expand(h.shape[0], -1, -1)
    s = h.shape[1] + 1
    for f in range(model.config.fusion_layers):
        outs = {m: e.fusion_blocks[f](torch.cat([x[m], tokens], 1), fusion_mask(valid, f == 0))
                for m, e in model.encoders.items()}
        x = {m: o[:, :s] for m, o in outs.items()}
        tokens = torch.stack([o[:, s:] for o in outs.values()]).mean(0)
    return torch.cat([e.output(x[m][:, -1]) for m, e in model.encoders.items()], dim=-1)


def test_cloze_only_last_layer_changes_no_result():
    model = build(ALL).eval()
    store = make_store()
    with torch.no_grad():
        fast = model.encode_histories(histories(), store)
        reference = _reference_user_representation(model, histories(), store)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


def test_absent_features_use_the_learned_missing_vector_not_zeros():
    model = build(["style"])
    store = make_store(absent_item=3)
    projected = model.encoders["style"].input(torch.tensor([3, 4]), store)
    torch.testing.assert_close(projected[0], model.encoders["style"].input.missing)
    assert not torch.equal(projected[1], model.encoders["style"].input.missing)


def test_history_length_must_match_max_len():
    model = build(["id"])
    with pytest.raises(ValueError, match="max_len 5"):
        model.encode_histories(torch.ones(2, 4, dtype=torch.long), make_store())


def test_feature_scaling_standardises_inputs_and_travels_with_the_weights():
    model = build(["style", "prompt", "price"])
    store = make_store()
    train_items = torch.ones(store.num_items + 1, dtype=torch.bool)
    train_items[-1] = False  # first sold after val_start: not part of the statistics
    store.tables["style"].values[-1] = 1000.0
    model.fit_feature_scaling(store, train_items)
    style = model.encoders["style"].input
    values = store.tables["style"].values[store.tables["style"].present & train_items]
    standardised = (values - style.shift) * style.scale
    torch.testing.assert_close(standardised.mean(0), torch.zeros(12), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardised.std(0), torch.ones(12), atol=1e-4, rtol=0)
    assert style.shift.abs().max() < 10  # the outlier sold after val_start did not move the statistics
    assert model.encoders["prompt"].input.shift.shape == (8,)
    assert torch.equal(model.encoders["price"].input.scale, torch.ones(1))  # price is broadcast as it is
    restored = build(["style", "prompt", "price"])
    restored.load_state_dict(model.state_dict())
    assert torch.equal(restored.encoders["style"].input.shift, style.shift)


def test_positions_and_shared_tokens_use_xavier_over_one_by_s_by_d():
    model = build(["id", "price"])
    seq_len, d = model.shared_tokens.shape
    bound = (6 / (seq_len * d + d)) ** 0.5  # fan_in = S * d, fan_out = d for a (1, S, d) tensor
    for tensor in (model.shared_tokens, model.encoders["id"].positions):
        assert tensor.abs().max() <= bound
        assert tensor.abs().max() > 0.8 * bound

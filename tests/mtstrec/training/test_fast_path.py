"""The training speed levers change no result: the fast path against the plain one on a small config."""

import dataclasses
import logging

import pytest
import torch

from mtstrec import modality
from mtstrec.config import TrainConfig
from mtstrec.data.item_features import ItemFeatureStore, ModalityTable
from mtstrec.fusion import fusion_mask
from mtstrec.model import MTSTRec
from mtstrec.modules import Attention, Dropout
from mtstrec.training import compiled, device
from mtstrec.training.loop import train_step
from mtstrec.training.negatives import catalog_negatives
from tests.mtstrec.model_configs import small_config

NUM_ITEMS = 40
ALL = ["id", "style", "image", "text", "prompt", "price"]


def raw_store() -> ItemFeatureStore:
    """Features far from standardised (offset and spread per dimension), as pretrained embeddings are."""
    gen = torch.Generator().manual_seed(0)

    def table(kind, shape):
        present = torch.ones(NUM_ITEMS + 1, dtype=torch.bool)
        present[5] = False
        values = 3.0 + 0.5 * torch.rand(shape[-1], generator=gen) * torch.randn(NUM_ITEMS + 1, *shape, generator=gen)
        return ModalityTable(kind, values, present, "test", {})

    return ItemFeatureStore(NUM_ITEMS, {
        "style": table("vector", [12]), "image": table("vector", [10]), "text": table("vector", [8]),
        "prompt": table("views", [3, 8]), "price": ModalityTable("scalar", torch.rand(NUM_ITEMS + 1, 1, generator=gen),
                                                                 torch.ones(NUM_ITEMS + 1, dtype=torch.bool), "t", {}),
    })


def model(candidate_grad: bool) -> MTSTRec:
    cfg = small_config("/unused", "unused", "model.max_len=6").model  # dropout 0: the paths are deterministic
    torch.manual_seed(0)
    built = MTSTRec(dataclasses.replace(cfg, modalities=ALL, candidate_grad=candidate_grad), NUM_ITEMS,
                    raw_store().shapes())
    built.fit_feature_scaling(raw_store(), torch.ones(NUM_ITEMS + 1, dtype=torch.bool))
    return built.train()


def loss_and_grads(m: MTSTRec, store: ItemFeatureStore) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    histories = torch.randint(1, NUM_ITEMS + 1, (8, 6), generator=gen)
    histories[:3, :2] = 0
    targets = torch.randint(1, NUM_ITEMS + 1, (8, 3), generator=gen)
    targets[4:, 1:] = 0
    negatives, negative_mask = catalog_negatives(targets, NUM_ITEMS, 10, gen)
    m.zero_grad(set_to_none=True)
    loss = train_step(m, histories, targets, negatives, negative_mask, store, TrainConfig(), "fp32")
    return loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("candidate_grad", [False, True])
def test_standardisation_folded_into_the_tables_gives_the_same_loss_and_gradients(candidate_grad):
    m = model(candidate_grad)
    raw = raw_store()
    folded = m.standardised_store(raw)
    assert not torch.equal(folded.tables["style"].values, raw.tables["style"].values)
    plain_loss, plain_grads = loss_and_grads(m, raw)
    fast_loss, fast_grads = loss_and_grads(m, folded)
    torch.testing.assert_close(fast_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert fast_grads.keys() == plain_grads.keys()
    assert any("prompt.input.gate" in n for n in plain_grads)  # the feature projections are compared too
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("candidate_grad", [False, True])
def test_features_gathered_in_chunks_give_the_same_loss_and_gradients(candidate_grad, monkeypatch):
    m = model(candidate_grad)
    store = m.standardised_store(raw_store())
    whole_loss, whole_grads = loss_and_grads(m, store)
    monkeypatch.setattr(modality, "CPU_GATHER_BYTES", 3 * 3 * 8 * 4)  # 3 items of the prompt's (3, 8) floats
    chunked_loss, chunked_grads = loss_and_grads(m, store)
    torch.testing.assert_close(chunked_loss, whole_loss, rtol=1e-5, atol=1e-6)
    assert chunked_grads.keys() == whole_grads.keys()
    for name, grad in whole_grads.items():
        torch.testing.assert_close(chunked_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_store_folded_with_other_statistics_is_refused():
    m = model(False)
    folded = m.standardised_store(raw_store())
    m.encoders["style"].input.shift.add_(1.0)  # e.g. another model's weights loaded afterwards
    with pytest.raises(ValueError, match="style: the feature table was standardised with other statistics"):
        loss_and_grads(m, folded)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cheap_dropout_keeps_the_expectation_and_masks_the_gradient_alike(dtype):
    torch.manual_seed(0)
    layer = Dropout(0.3).train()
    x = torch.randn(400, 1000, dtype=dtype, requires_grad=True)
    y = layer(x)
    assert y.dtype == dtype
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    scale = 1 / (1 - layer.drop_levels / 65536)
    torch.testing.assert_close(y[kept], x[kept] * scale)
    (y * 2).sum().backward()
    torch.testing.assert_close(x.grad, (2 * scale * kept.float()).to(dtype))
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_cheap_dropout_masks_are_reproducible_and_fresh_each_call():
    layer = Dropout(0.5).train()
    x = torch.ones(1000)
    torch.manual_seed(3)
    first, second = layer(x), layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first)
    assert not torch.equal(first, second)


def test_attention_with_cheap_weight_dropout_computes_what_sdpa_does():
    """On the CPU in training, attention with dropout runs by hand (to use the cheap masks): with the
    masks keeping everything it must equal SDPA, full and CLOZE-only queries alike."""
    torch.manual_seed(0)
    attention = Attention(16, 2, dropout=0.1).train()
    x = torch.randn(3, 10, 16)
    allowed = fusion_mask(torch.tensor([[0, 1, 1, 1, 1]] * 2 + [[1] * 5], dtype=torch.bool), first=False)
    expected_full = attention.eval()(x, allowed)
    expected_cloze = attention(x, allowed[:, :, 4:5], query_rows=slice(4, 5))
    attention.train().weights_dropout.drop_levels = 0  # keep every weight
    torch.testing.assert_close(attention(x, allowed), expected_full)
    torch.testing.assert_close(attention(x, allowed[:, :, 4:5], query_rows=slice(4, 5)), expected_cloze)
    attention.weights_dropout.drop_levels = 32768  # half: now the weights are dropped
    assert not torch.allclose(attention(x, allowed), expected_full)


def test_bf16_on_the_cpu_only_where_the_probe_shows_it_faster(caplog):
    assert device.choose_precision({"fp32": 1.0, "bf16": 0.5}) == "bf16"
    assert device.choose_precision({"fp32": 1.0, "bf16": 0.95}) == "fp32"  # a near tie keeps fp32
    assert device.choose_precision({"fp32": 1.0, "bf16": 3.0}) == "fp32"
    device._cpu_precision.cache_clear()
    with caplog.at_level(logging.INFO, logger="mtstrec.training.device"):
        chosen = device.resolve_precision("auto", torch.device("cpu"))
    assert chosen in ("fp32", "bf16")
    assert f"-> {chosen}" in caplog.text and "probe fp32" in caplog.text
    assert device.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_compile_auto_is_cuda_only_and_bad_modes_are_named():
    assert compiled.wants_compile("auto", torch.device("cuda")) is True
    assert compiled.wants_compile("auto", torch.device("cpu")) is False
    assert compiled.wants_compile("on", torch.device("cpu")) is True
    with pytest.raises(ValueError, match=r"train\.compile must be auto, on or off"):
        compiled.wants_compile("yes", torch.device("cpu"))


def test_a_failing_compile_falls_back_to_the_eager_step(monkeypatch, caplog):
    class Broken(torch.nn.Module):
        """What torch.compile returns when its backend cannot build: fails on the first call."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kwargs):
            raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", Broken)
    m = model(False)
    eager_loss, eager_grads = loss_and_grads(m, raw_store())
    step = compiled.StepModule(m, "on", torch.device("cpu"))
    with caplog.at_level(logging.WARNING, logger="mtstrec.training.compiled"):
        loss = step.run(lambda module: loss_and_grads(module, raw_store())[0])
    assert "torch.compile failed (RuntimeError: no C++ compiler); training eagerly" in caplog.text
    torch.testing.assert_close(loss, eager_loss)
    assert step.module is m and not step.compiled
    name = "encoders.id.input.embedding.weight"
    torch.testing.assert_close(m.get_parameter(name).grad, eager_grads[name])

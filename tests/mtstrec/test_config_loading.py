import pytest

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import ConfigError, load_config


def test_defaults_are_the_papers():
    cfg = load_config(PipelineConfig)
    assert cfg.model.d_model == 512 and cfg.model.fusion_layers == 3 and cfg.model.max_len == 20
    assert (cfg.model.encoders["style"].blocks, cfg.model.encoders["style"].heads, cfg.model.encoders["style"].ffn) \
        == (4, 8, 2048)
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.lr_step, cfg.train.lr_gamma) == (1e-5, 5e-6, 10, 0.9)
    assert (cfg.train.batch_size, cfg.train.negatives, cfg.train.patience) == (64, 100, 10)


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('dataset = "shop"\n[train]\nepochs = 7\nlr = 0.001\n[model]\nmodalities = ["id", "text"]\n')
    cfg = load_config(PipelineConfig, path, ["train.epochs=3", "model.encoders.text.blocks=1", "eval.ks=[1,2]"])
    assert cfg.dataset == "shop"
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.001
    assert cfg.model.modalities == ["id", "text"]
    assert cfg.model.encoders["text"].blocks == 1 and cfg.model.encoders["style"].blocks == 4
    assert cfg.eval.ks == [1, 2]


def test_comma_separated_list_override():
    cfg = load_config(PipelineConfig, None, ["model.modalities=id,price", "eval.ks=1,5", "train.baselines=false"])
    assert cfg.model.modalities == ["id", "price"]
    assert cfg.eval.ks == [1, 5]
    assert cfg.train.baselines is False


def test_comma_splitting_is_limited_to_list_fields():
    assert load_config(PipelineConfig, None, ["dataset=a,b"]).dataset == "a,b"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", r"config.train.epoch: unknown key"),
        ("model.encoders.text.blockz=1", r"config.model.encoders.text.blockz: unknown key"),
        ("train.epochs=many", r"config.train.epochs: Input should be a valid integer.*\(got 'many'\)"),
        ("train.loss=mse", r"config.train.loss: Input should be 'bce', 'sampled_softmax' or 'full_softmax' \(got"),
        ("train.baselines=maybe", r"config.train.baselines: Input should be a valid boolean"),
        ("model.modalities=id,smell", r"unknown modality \['smell'\]"),
        ("noequals", "not of the form key=value"),
    ],
)
def test_bad_config_is_a_clear_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(PipelineConfig, None, [override])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere\.toml does not exist"):
        load_config(PipelineConfig, tmp_path / "nothere.toml")

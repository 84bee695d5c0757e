from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import ConfigError, load_config
from tasks.pipeline_config import config_from_params, partition_date


def test_params_map_onto_config_keys_and_overrides_win(monkeypatch):
    monkeypatch.delenv("MTSTREC_OVERRIDES", raising=False)
    cfg = config_from_params({
        "dataset": "hm", "root": "s3://bucket/prefix", "raw": "/raw/hm", "layout": "generic",
        "modalities": ["id", "text", "price"], "config": "configs/demo.toml", "epochs": 3,
        "overrides": ["train.epochs=5", "registry.margin=0.01"],
    })
    assert (cfg.dataset, cfg.root, cfg.ingest.raw, cfg.ingest.layout) == ("hm", "s3://bucket/prefix", "/raw/hm",
                                                                           "generic")
    assert cfg.model.modalities == ["id", "text", "price"]
    assert cfg.features.modalities == ["text", "price"]  # id has no extracted features
    demo = load_config(PipelineConfig, "configs/demo.toml")  # found relative to the repository by the params
    assert cfg.model.d_model == demo.model.d_model
    assert cfg.train.epochs == 5 and cfg.registry.margin == 0.01


def test_empty_params_keep_the_config_file(monkeypatch):
    monkeypatch.delenv("MTSTREC_OVERRIDES", raising=False)
    cfg = config_from_params({"config": "configs/demo.toml", "raw": None, "epochs": None, "modalities": None})
    assert cfg == load_config(PipelineConfig, "configs/demo.toml")


def test_deployment_overrides_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MTSTREC_OVERRIDES", '["train.runs_dir=/srv/runs", "train.epochs=2"]')
    cfg = config_from_params({"epochs": 4})
    assert cfg.train.runs_dir == "/srv/runs" and cfg.train.epochs == 4  # run params beat the deployment
    monkeypatch.setenv("MTSTREC_OVERRIDES", "train.epochs=2")
    with pytest.raises(ConfigError, match="MTSTREC_OVERRIDES"):
        config_from_params({})


def test_partition_date_is_the_utc_day_of_the_logical_date():
    assert partition_date(None) is None
    assert partition_date(date(2020, 8, 30)) == date(2020, 8, 30)
    assert partition_date(datetime(2020, 8, 30, 2, tzinfo=UTC)) == date(2020, 8, 30)
    assert partition_date(datetime(2020, 8, 30, 23, tzinfo=timezone(timedelta(hours=-5)))) == date(2020, 8, 31)

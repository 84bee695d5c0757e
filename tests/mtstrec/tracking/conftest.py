from pathlib import Path

import pytest

from mtstrec.config import PipelineConfig
from mtstrec.storage import Storage
from tests.mtstrec.tracking.tracking_fixtures import RUN_DATE, tiny_config, write_dataset, write_run


@pytest.fixture
def tiny_run(tmp_path: Path) -> tuple[PipelineConfig, Path]:
    cfg = tiny_config(tmp_path / "data")
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)
    write_dataset(dataset, [[1, 2, 3], [4, 5], [6]])
    run_dir = tmp_path / "run"
    write_run(run_dir, cfg, dataset, seed=0)
    return cfg, run_dir

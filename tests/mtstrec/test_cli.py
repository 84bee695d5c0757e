import json

import pytest

from mtstrec.cli import main
from tests.mtstrec.model_configs import SMALL_MODEL


@pytest.mark.parametrize("command", ["train", "evaluate", "recommend", "ingest", "sequences", "features"])
def test_every_command_explains_its_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: mtstrec " + command in text
    assert text.count("--") >= 2


def test_train_evaluate_recommend_through_the_cli(synthetic_root, tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text(f'root = "{synthetic_root}"\ndataset = "planted"\n[train]\nepochs = 1\n')
    run_dir = tmp_path / "run"
    sets = [arg for override in SMALL_MODEL for arg in ("--set", override)]
    assert main(["train", "--config", str(config), "--run-dir", str(run_dir), *sets]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["run_dir"] == str(run_dir) and trained["epochs_run"] == 1

    assert main(["evaluate", "--run", str(run_dir), "--set", "eval.sampled_negatives=20"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert {"MTSTRec", "popularity"} <= set(evaluated["metrics"])
    assert (run_dir / "report" / "report.md").exists()

    assert main(["recommend", "--run", str(run_dir), "--history", "3,4,5", "--k", "4"]) == 0
    recommended = json.loads(capsys.readouterr().out)
    assert len(recommended["recommendations"]) == 4
    assert not {3, 4, 5} & set(recommended["recommendations"])


def test_bad_config_exits_with_a_message(tmp_path, capsys):
    assert main(["train", "--root", str(tmp_path), "--dataset", "x", "--set", "train.epochs=lots"]) == 2
    assert "train.epochs: Input should be a valid integer" in capsys.readouterr().err

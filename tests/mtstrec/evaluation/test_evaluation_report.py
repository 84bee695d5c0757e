import json

from mtstrec.evaluation.report import write_report

RESULTS = {
    "MTSTRec": {"full/ndcg@10": 0.1234, "full/hr@5": 0.0567, "sampled/mrr@20": 0.4321, "sampled/ndcg@10": 0.5},
    "popularity": {"full/ndcg@10": 0.0456, "full/hr@5": 0.0111, "sampled/mrr@20": 0.2222, "sampled/ndcg@10": 0.3},
}
HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "val_ndcg@5": 0.01},
    {"epoch": 2, "train_loss": 0.7, "val_ndcg@5": 0.03},
]


def test_report_files_hold_the_numbers(tmp_path):
    paths = write_report(tmp_path / "report", RESULTS, HISTORY, title="test run")
    assert set(paths) == {"markdown", "json", "curves", "comparison"}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    assert paths["curves"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["markdown"].read_text()
    full, sampled = markdown.split("## Sampled")
    assert "| model | NDCG@10 | HR@5 |" in full  # columns grouped NDCG, HR, MRR, then by k
    assert "| MTSTRec | 0.1234 | 0.0567 |" in full
    assert "| popularity | 0.0456 | 0.0111 |" in full
    assert "| model | NDCG@10 | MRR@20 |" in sampled
    assert "| MTSTRec | 0.5000 | 0.4321 |" in sampled
    stored = json.loads(paths["json"].read_text())
    assert stored["results"] == RESULTS and stored["history"] == HISTORY and stored["title"] == "test run"


def test_report_without_history_or_full_metrics_skips_those_plots(tmp_path):
    paths = write_report(tmp_path, {"popularity": {"sampled/hr@5": 0.25}}, None, title="t")
    assert set(paths) == {"markdown", "json"}
    assert "| popularity | 0.2500 |" in paths["markdown"].read_text()


def test_missing_metric_shows_a_dash(tmp_path):
    results = {"a": {"full/hr@5": 0.1, "full/mrr@5": 0.2}, "b": {"full/hr@5": 0.3}}
    markdown = write_report(tmp_path, results, [], title="t")["markdown"].read_text()
    assert "| b | 0.3000 | – |" in markdown

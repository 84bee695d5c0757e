"""Promote step: move the champion alias to a registered version only if it beats the champion.

Both scores must come from the same validation split. When the champion was scored on an older
split (the data moved on since), it is re-evaluated on the candidate's split first; if that
is impossible, the champion stays, so that a worse model never becomes champion. Promote
steps of one registered model take turns (`mtstrec/tracking/registry_lock.py`).
"""

from __future__ import annotations

import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from mtstrec.config import PipelineConfig
from mtstrec.tracking.champion import current_champion, record_decision, registry_client, scored
from mtstrec.tracking.mlflow_run import TAG_RUN_DIR, primary_score
from mtstrec.tracking.promotion import PromotionDecision, ScoredVersion, decide_promotion
from mtstrec.tracking.registry_lock import registry_lock
from mtstrec.training.run_location import COMPLETE_MARKER, RunLocation

log = logging.getLogger(__name__)


def _rescore(cfg: PipelineConfig, champion: ScoredVersion, run_dir: str, split: str, snapshot: str) -> ScoredVersion:
    """The champion's score on the candidate's validation split: `cfg`'s dataset, snapshot `snapshot`.

    Evaluates a copy of the champion's main model (no baselines), so that its run directory
    (a path or URI) and report stay as they were.
    """
    from tasks.evaluate import evaluate

    champion_run = RunLocation(run_dir)
    with tempfile.TemporaryDirectory(prefix="mtstrec-rescore-") as scratch:
        for name in ("model.pt", "config.json", "history.json", COMPLETE_MARKER):
            champion_run.storage.download(name, Path(scratch) / name)
        evaluation = evaluate(scratch, overrides=[f"root={cfg.root}", f"dataset={cfg.dataset}",
                                                  f"snapshot={snapshot}"])
    return ScoredVersion(champion.version, primary_score(evaluation, cfg.registry.metric), split)


def _decide(cfg: PipelineConfig, candidate: ScoredVersion, champion: ScoredVersion | None, champion_run_dir: str,
            snapshot: str, force: bool) -> PromotionDecision:
    margin = cfg.registry.margin
    if force:
        return PromotionDecision(True, "promoted by hand (gate skipped)", candidate.score,
                                 champion.score if champion else None, margin)
    if champion is not None and champion.version != candidate.version and champion.split != candidate.split:
        log.info("champion v%s was scored on another validation split; re-evaluating it", champion.version)
        try:
            champion = _rescore(cfg, champion, champion_run_dir, candidate.split, snapshot)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            return PromotionDecision(False, f"champion could not be re-evaluated on this split: {exc}",
                                     candidate.score, None, margin)
    return decide_promotion(candidate, champion, margin)


def promote(cfg: PipelineConfig, logical_date: date | None, version: str, force: bool = False) -> dict[str, Any]:
    """Decide whether registered `version` becomes `registry.alias`; tags record the decision.

    `force` skips the gate (a person promoting a chosen version by hand); the tags say so.
    The decision is made under the model's registry lease, which the tags name too.
    """
    name, alias = cfg.registry.model_name, cfg.registry.alias
    client = registry_client(cfg)
    with registry_lock(cfg) as lease:
        candidate_version = client.get_model_version(name, version)
        candidate = scored(candidate_version, cfg.registry.metric)
        champion_version = current_champion(client, name, alias)
        champion = scored(champion_version, cfg.registry.metric) if champion_version else None
        champion_run_dir = champion_version.tags.get(TAG_RUN_DIR, "") if champion_version else ""
        previous = champion.version if champion else None
        # The candidate's test split is the snapshot of the date it was registered for.
        snapshot = candidate_version.tags.get("logical_date") or (logical_date.isoformat() if logical_date else "")

        decision = _decide(cfg, candidate, champion, champion_run_dir, snapshot, force)
        client.set_model_version_tag(name, candidate.version, "promotion.lease", lease.uri)
        record_decision(client, name, alias, candidate.version, decision, previous)
    log.info("%s v%s: %s (%s)", name, candidate.version, "promoted" if decision.promote else "kept champion",
             decision.reason)
    return _summary(name, alias, candidate.version, decision, previous)


def _summary(name: str, alias: str, version: str, decision: PromotionDecision, previous: str | None) -> dict:
    return {
        "model_name": name,
        "version": version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate_score": decision.candidate_score,
        "champion_score": decision.champion_score,
        "champion_version": version if decision.promote else previous,
        "alias": alias,
    }

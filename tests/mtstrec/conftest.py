"""Fixtures for the library tests: a tiny planted-signal dataset."""

from __future__ import annotations

import pytest

from mtstrec.data.synthetic import SyntheticConfig, write_synthetic_dataset
from mtstrec.storage import Storage


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    """A dataset 'planted' where every modality carries the users' cluster preference."""
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(Storage(str(root)).child("planted"), SyntheticConfig(users=400, items=80, seed=3))
    return str(root)

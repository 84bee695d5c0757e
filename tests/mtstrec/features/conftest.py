from pathlib import Path

import pytest

from tests.mtstrec.features.feature_fixtures import make_shop


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    return make_shop(tmp_path)

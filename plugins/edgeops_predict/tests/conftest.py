"""The committed real models (tests/data) the predictor's tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.testing import test_data_dir as _test_data_dir


@pytest.fixture
def data_dir() -> Path:
    return _test_data_dir()

"""Where the tests find the repository, the committed real models and logs, and the hook log."""

from pathlib import Path

from edgeops.testing import test_data_dir

REPO = Path(__file__).resolve().parent.parent
DATA = test_data_dir()
# Set by the repository's root conftest.py for the whole session.

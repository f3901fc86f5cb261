"""``Segment`` is the ``(start_seconds, end_seconds, score)`` tuple the docs describe."""

from dataclasses import asdict

import pytest

from wavguard.scoring.prediction import Segment


def test_segment_unpacks_and_indexes_like_a_tuple():
    seg = Segment(1.0, 5.0, 0.75)
    start, end, score = seg
    assert (start, end, score) == (1.0, 5.0, 0.75)
    assert seg[0] == 1.0 and seg[1] == 5.0 and seg[2] == 0.75 and seg[-1] == 0.75
    assert seg[:2] == (1.0, 5.0) and len(seg) == 3 and tuple(seg) == (1.0, 5.0, 0.75)
    with pytest.raises(IndexError):
        seg[3]
    # still a dataclass with named fields and a JSON-ready dict
    assert seg.score == 0.75 and asdict(seg) == {"start_seconds": 1.0, "end_seconds": 5.0, "score": 0.75}

"""benchmarks/faults.py, short: every case of the load and fault suite runs against the service
(in this process, tiny detector, small limits) and no answer is an unexpected 5xx. No timing assert."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def suite():
    from benchmarks import faults

    cases, info = faults.run(faults.Options.short(in_process=True))
    return faults, {c.name.split(" (")[0]: c for c in cases}, info


def test_every_case_ran(suite):
    faults, cases, _ = suite
    assert list(cases) == [
        "mixed load",
        "short requests alone",
        "short requests + maximal batch",
        "large uploads",
        "slow uploads",
        "disconnects",
        "full disk under the log",
    ]
    for name, case in cases.items():
        assert case.requests > 0 and case.healthz_ms, name
    table = faults.format_table(list(cases.values())).splitlines()
    assert len(table) == 2 + len(cases) and all(row.count(" | ") == table[0].count(" | ") for row in table)


def test_no_5xx_and_no_unexpected_silence(suite):
    _, cases, _ = suite
    for name, case in cases.items():
        assert case.server_errors == 0, (name, dict(case.statuses))
        assert case.unexpected_no_answer == 0, (name, dict(case.statuses))


def test_each_fault_got_its_documented_answer(suite):
    faults, cases, _ = suite
    mixed = cases["mixed load"]
    assert (
        mixed.extra["bad_kinds"] == len(faults.bad_inputs(b"\0" * 8192))
        and mixed.count(400, 500) >= mixed.extra["bad_kinds"]
    )
    batch = cases["short requests + maximal batch"]
    assert batch.count(200, 300) > 0 and "batches of 4 files" in batch.notes[0]
    assert cases["large uploads"].count(200, 300) == 2
    assert set(cases["slow uploads"].extra["trickled"]) == {408}
    assert cases["disconnects"].deliberate_drops > 0 and cases["disconnects"].extra["counted_499"] > 0
    disk = cases["full disk under the log"].extra
    assert set(disk["predictions"]) == {"prediction-not-logged"} and set(disk["feedback"]) == {"LogUnavailable"}
    assert set(disk["readyz"]) == {503} and disk["readyz_after"] == 200

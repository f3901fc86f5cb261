"""``wavguard stream`` refuses options it cannot work with as usage errors (exit 2, one clear
line), before loading a model: ``--channels 0`` divided by zero, ``--chunk-bytes 0`` read nothing
and ``--chunk-bytes -5`` read all of stdin at once."""

from __future__ import annotations

import pytest

from wavguard.cli import main


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--channels", "0", "--channels: must be from 1 to 32"),
        ("--channels", "-2", "--channels: must be from 1 to 32"),
        ("--channels", "33", "--channels: must be from 1 to 32"),
        ("--channels", "two", "--channels: must be a whole number"),
        ("--chunk-bytes", "0", "--chunk-bytes: must be a positive number of bytes"),
        ("--chunk-bytes", "-5", "--chunk-bytes: must be a positive number of bytes"),
        ("--chunk-bytes", "1.5", "--chunk-bytes: must be a whole number"),
        ("--sample-rate", "0", "--sample-rate: "),
        ("--sample-rate", "-16000", "--sample-rate: "),
    ],
)
def test_stream_refuses_unusable_options_as_a_usage_error(option, value, expected, capsys, tmp_path):
    argv = ["stream", str(tmp_path / "no-model"), "--sample-rate", "16000", option, value]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert expected in err[-1] and "Traceback" not in "\n".join(err), err


def test_stream_accepts_the_edges(capsys, tmp_path):
    # the options parse; the missing model is what stops it (exit 1, not a usage error)
    for extra in (["--channels", "1"], ["--channels", "32"], ["--chunk-bytes", "1"], ["--sample-rate", "1000"]):
        assert main(["stream", str(tmp_path / "no-model"), "--sample-rate", "16000", *extra]) == 1
        assert "no-model" in capsys.readouterr().err

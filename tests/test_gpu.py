"""The GPU code paths of scoring: device placement, bf16 weights, pinned host batches. The CUDA
tests run only where a CUDA GPU is visible and are skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavguard.testing import chirp, sine, tiny_detector

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture()
def clips():
    rng = np.random.default_rng(3)
    out = [chirp(2.3), sine(0.9, frequency_hz=240.0), chirp(1.6, f0_hz=300.0)]
    return [(c + 0.02 * rng.standard_normal(c.shape[0])).astype(np.float32) for c in out]


class ZerosSpy:
    """Records ``pin_memory`` of the ``torch.zeros`` calls that set it (the backend's host batch)."""

    def __init__(self, monkeypatch):
        self.pinned: list[bool] = []
        original = torch.zeros

        def zeros(*args, **kwargs):
            if "pin_memory" in kwargs:
                self.pinned.append(bool(kwargs.get("pin_memory", False)))
            return original(*args, **kwargs)

        monkeypatch.setattr(torch, "zeros", zeros)


def test_cpu_batches_are_not_pinned(clips, monkeypatch):
    det = tiny_detector("whisper", window_seconds=1.0)
    spy = ZerosSpy(monkeypatch)
    det.predict(clips, 16000, batch_size=2)
    assert spy.pinned and not any(spy.pinned)


@needs_cuda
def test_fp32_on_cuda_places_everything_and_scores_as_on_cpu(clips, monkeypatch):
    det = tiny_detector("whisper", window_seconds=1.0)
    cpu = det.predict(clips, 16000, batch_size=2)
    det.to("cuda")
    assert det.device.type == "cuda"
    assert all(t.device.type == "cuda" for t in [*det.model.parameters(), *det.model.buffers()])
    seen = []
    forward = det.model.forward

    def spy_forward(waveforms, lengths=None):
        seen.append((waveforms.device.type, waveforms.dtype, lengths.device.type))
        return forward(waveforms, lengths)

    monkeypatch.setattr(det.model, "forward", spy_forward)
    pins = ZerosSpy(monkeypatch)
    gpu = det.predict(clips, 16000, batch_size=2)
    assert seen and all(s == ("cuda", torch.float32, "cuda") for s in seen)
    assert pins.pinned and all(pins.pinned)
    assert det.score_windows([clips[0][:16000]]).dtype == np.float32
    # TF32 convolutions (cuDNN's default) round a little more than the CPU
    np.testing.assert_allclose([p.score for p in gpu], [p.score for p in cpu], atol=2e-3, rtol=0)
    for a, b in zip(gpu, cpu):
        np.testing.assert_allclose([s.score for s in a.segments], [s.score for s in b.segments], atol=2e-3, rtol=0)


@needs_cuda
def test_bf16_on_cuda_scores_close_to_fp32(clips):
    det = tiny_detector("whisper", window_seconds=1.0)
    fp32 = det.predict(clips, 16000, batch_size=2)
    det.to("cuda")
    det.model.to(torch.bfloat16)
    assert det.backend.dtype == torch.bfloat16 and det.device.type == "cuda"
    bf16 = det.predict(clips, 16000, batch_size=2)
    assert all(p.ok for p in bf16)
    np.testing.assert_allclose([p.score for p in bf16], [p.score for p in fp32], atol=0.05, rtol=0)  # ~3 digits
    det.model.to(torch.float32)
    again = det.predict(clips, 16000, batch_size=2)
    np.testing.assert_allclose([p.score for p in again], [p.score for p in fp32], atol=2e-3, rtol=0)

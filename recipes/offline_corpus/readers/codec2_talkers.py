"""codec2-examples: the classic speech-codec test talkers.

``usr/share/codec2/raw/*.raw`` are headerless 16-bit little-endian mono at 8 kHz;
``raw/speech_orig_16k.wav`` and ``wav/wia_16kHz.wav`` are 16 kHz wavs. Only the files in
:data:`TALKERS` are speech as recorded: left out are modem and test signals (``700d_end_over``,
``test_datac1_006``, ``testframes_700d``, ``sine1k_*``), ``f2400``/``m2400`` (named like the
female/male talkers through a 2,400 b/s codec: probably coded speech, left out to be safe), and prefixes of longer files (``hts1``,
``hts2``, ``hts1a``, ``hts2a`` are cuts of ``hts``; ``ve9qrp_10s`` of ``ve9qrp``: checked sample for
sample). The speaker key is the file name (``codec2:hts``): the package does not say who speaks,
and two files may share a talker. Raw files are written once as 16-bit wav to
``CACHE/extracted/codec2/``; the wavs are used where they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard._io import atomic_write

from . import Clip, debian
from ._text import audio_info

__all__ = ["PACKAGES", "RAW_RATE_HZ", "TALKERS", "list_clips", "raw_to_wav", "read"]

PACKAGES = ("codec2-examples",)
BASE = "usr/share/codec2"
RAW_RATE_HZ = 8000
#: file (under ``usr/share/codec2``) -> channel.
TALKERS = {
    "raw/big_dog.raw": "codec_test_8k",
    "raw/cross.raw": "codec_test_8k",
    "raw/forig.raw": "codec_test_8k",
    "raw/morig.raw": "codec_test_8k",
    "raw/hts.raw": "codec_test_8k",
    "raw/kristoff.raw": "codec_test_8k",
    "raw/mmt1.raw": "codec_test_8k",
    # HF radio receptions, by their names (amateur call signs, a CQ call); not checked by listening.
    "raw/cq_ref.raw": "radio_8k",
    "raw/g3plx.raw": "radio_8k",
    "raw/ve9qrp.raw": "radio_8k",
    "raw/vk5qi.raw": "radio_8k",
    "raw/speech_orig_16k.wav": "codec_test_16k",
    "wav/wia_16kHz.wav": "codec_test_16k",
}


def raw_to_wav(raw: Path, wav: Path, rate_hz: int = RAW_RATE_HZ) -> int:
    """Copy headerless s16le samples into a 16-bit wav (same samples); return the sample count."""
    samples = np.fromfile(raw, dtype="<i2")
    atomic_write(wav, lambda tmp: sf.write(tmp, samples, rate_hz, subtype="PCM_16", format="WAV"))
    return int(samples.size)


def list_clips(root: Path, out_dir: Path, talkers: dict[str, str] | None = None) -> list[Clip]:
    """The talkers under an unpacked root; raw files become wavs in ``out_dir`` (once)."""
    out = []
    for rel, channel in sorted((talkers or TALKERS).items()):
        path = Path(root) / BASE / rel
        name = Path(rel).stem
        if path.suffix == ".raw":
            wav = Path(out_dir) / f"{name}.wav"
            if not wav.is_file():
                raw_to_wav(path, wav)
            path = wav
        rate, frames = audio_info(path)
        out.append(
            Clip(
                f"codec2/{name}",
                "codec2-examples",
                str(path),
                f"codec2:{name}",
                "file name",
                "en",
                channel,
                "",
                "",
                rate,
                frames,
            )
        )
    return sorted(out, key=lambda c: c.clip_id)


def read(cache_dir: Path, debs_dir: Path | None = None) -> list[Clip]:
    """Download/unpack ``codec2-examples`` into ``cache_dir`` (once) and list the talkers."""
    root = debian.fetch(cache_dir, PACKAGES, debs_dir)
    return list_clips(root, Path(cache_dir).expanduser() / "extracted" / "codec2")

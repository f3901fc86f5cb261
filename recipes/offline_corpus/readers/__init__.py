"""One reader per real-speech source family (Debian packages listed in shared/notes/offline-data.md).

Every reader returns a list of :class:`Clip`, sorted by ``clip_id``. A clip's ``path`` is always a
file that soundfile (and so :func:`wavguard.audio.load_audio`) decodes as it is: wav, ogg (Vorbis or
Opus) or mp3. Sources whose speech sits inside a game archive (Flight of the Amazon Queen, Beneath a
Steel Sky) or in headerless raw PCM (codec2) are *extracted once* into the cache folder, without
re-encoding (mp3 slices stay mp3; 8-bit PCM becomes 8-bit wav; raw s16le becomes 16-bit wav), with a
``clips.json`` index so later calls do not decode anything. This is simpler and more robust than a
per-clip ``load()`` closure: a record is plain data (picklable, CSV-able), and the builder's worker
processes decode it with the same loader as everything else. :meth:`Clip.load` is a convenience.

Example:
    >>> from pathlib import Path
    >>> from recipes.offline_corpus.readers import asterisk
    >>> clips = asterisk.read(Path("~/.cache/wavguard/offline_corpus").expanduser())  # doctest: +SKIP
    >>> clips[0].speaker, clips[0].language, clips[0].channel  # doctest: +SKIP
    ('asterisk:allison', 'en', 'telephone_8k')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["CHANNELS", "FAMILIES", "RELIABILITY", "Clip", "load_index", "read_all", "save_index"]

#: Channel vocabulary: how a source's audio reached us (codec, band, recording conditions).
CHANNELS = {
    "studio_16k": "studio read speech, 16-bit PCM at 16 kHz",
    "game_vorbis_22k": "game dialogue, Ogg Vorbis at 22.05 kHz, in-game reverb",
    "game_vorbis_44k": "game dialogue, Ogg Vorbis at 44.1 kHz, in-game reverb",
    "mp3_16kbps_11k": "CD-talkie game speech, MPEG-2.5 Layer III about 16 kb/s at 11.025 kHz",
    "pcm8_11k": "CD-talkie game speech, 8-bit unsigned PCM at 11.025 kHz",
    "telephone_8k": "studio IVR prompts, 16-bit PCM at 8 kHz",
    "words_vorbis": "single words recorded by volunteers, Ogg Vorbis, rate varies",
    "words_opus": "single words recorded by volunteers, Ogg Opus at 48 kHz",
    "words_pcm": "single words recorded by volunteers, PCM wav, rate varies",
    "codec_test_8k": "speech codec test talkers, 16-bit PCM at 8 kHz",
    "radio_8k": "speech received over HF radio (SSB), 16-bit PCM at 8 kHz",
    "codec_test_16k": "speech codec test talkers, 16-bit PCM at 16 kHz",
}

#: How far a clip's ``speaker`` key can be trusted, most to least.
RELIABILITY = {
    "verified": "one documented voice talent for the whole source",
    "voice": "the source names the voice (a folder per voice talent)",
    "font": "a game's per-character dialogue font; the same character is the same actor",
    "game code": "a speaker code in the game's file names; not checked by listening",
    "font+level": "a generic dialogue colour, keyed per level; two keys may be one actor",
    "file name": "one recording per file name; talkers may repeat across files",
    "language folder": "one folder per language; probably one volunteer each, not checked",
    "none": "the source does not say who speaks",
}

#: Reader modules by source family.
FAMILIES = ("festvox_ru", "fillets", "queen", "sky", "asterisk", "ktuberling", "codec2_talkers")


@dataclass(frozen=True)
class Clip:
    """One bona fide clip.

    Attributes:
        clip_id: unique across all readers, ``FAMILY/...``.
        source: the Debian package the audio comes from.
        path: a file soundfile decodes as is (wav, ogg, mp3).
        speaker: speaker key, ``FAMILY:NAME`` (as fine as the source allows).
        speaker_reliability: a key of :data:`RELIABILITY`.
        language: ISO 639 code (``nds`` for Low German, ``wa`` for Walloon).
        channel: a key of :data:`CHANNELS`.
        text: transcript in ``language`` ("" when the source has none).
        text_en: an English version of the line ("" when none).
        sample_rate_hz: the file's own rate.
        num_samples: frames in the file.
    """

    clip_id: str
    source: str
    path: str
    speaker: str
    speaker_reliability: str
    language: str
    channel: str
    text: str
    text_en: str
    sample_rate_hz: int
    num_samples: int

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"{self.clip_id}: unknown channel {self.channel!r}; choose from {sorted(CHANNELS)}")
        if self.speaker_reliability not in RELIABILITY:
            raise ValueError(f"{self.clip_id}: unknown speaker reliability {self.speaker_reliability!r}")

    @property
    def duration_seconds(self) -> float:
        return self.num_samples / self.sample_rate_hz

    def load(self, target_rate_hz: int | None = None) -> tuple[np.ndarray, int]:
        """Decode to mono float32 with wavguard's loader: ``(samples of shape (time,), rate_hz)``."""
        from wavguard.audio import load_audio

        return load_audio(self.path, target_rate_hz)


def save_index(path: Path, clips: list[Clip]) -> None:
    """Write clips as JSON (atomically), paths relative to the index's folder."""
    from wavguard._io import atomic_write_text

    rows = []
    for clip in clips:
        row = asdict(clip)
        row["path"] = str(Path(clip.path).relative_to(path.parent))
        rows.append(row)
    atomic_write_text(path, json.dumps(rows, ensure_ascii=False, indent=0) + "\n")


def load_index(path: Path) -> list[Clip] | None:
    """Clips saved by :func:`save_index`, or ``None`` when the index is missing or a file is gone."""
    if not path.is_file():
        return None
    clips = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        row["path"] = str(path.parent / row["path"])
        clips.append(Clip(**row))
    if clips and not Path(clips[-1].path).is_file():
        return None
    return clips


def read_all(cache_dir: Path, debs_dir: Path | None = None) -> dict[str, list[Clip]]:
    """Every family's clips: ``{family: clips}`` (downloads and extracts what is missing)."""
    import importlib

    return {name: importlib.import_module(f"{__name__}.{name}").read(cache_dir, debs_dir) for name in FAMILIES}

"""Bona fide source material: fetch the Debian packages, list the clips, read their transcripts.

Three speakers, one language each:

* ``ru_msu``: the Russian male voice talent of ``festvox-ru`` (``wav/ru_NNNN.wav``, transcripts in
  ``etc/txt.done.data`` with ``+`` stress marks).
* ``cs_big``: the big fish of ``fillets-ng-data-cs`` (``sound/**/cs/*-v-*.ogg``).
* ``nl_small``: the small fish of ``fillets-ng-data-nl`` (``sound/**/nl/*-m-*.ogg``).

The fish lines come from ``fillets-ng-data`` ``script/**/*dialogs_{cs,nl}.lua``:
``dialogId("ID", "font_big", "English text")`` followed by ``dialogStr("localised text")``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from wavguard.errors import ConfigError

from .readers import debian
from .readers.festvox_ru import parse_txt_done_data
from .readers.fillets import parse_lua_dialogs

__all__ = [
    "PACKAGES",
    "SPEAKERS",
    "SpeakerSpec",
    "Utterance",
    "fetch_packages",
    "list_utterances",
    "parse_lua_dialogs",
    "parse_txt_done_data",
]

logger = logging.getLogger("offline_corpus")

#: The Debian packages of the three speakers and the members each one needs (see ``readers/debian.py``).
PACKAGES = {name: debian.PACKAGES[name] for name in
            ("festvox-ru", "fillets-ng-data-cs", "fillets-ng-data-nl", "fillets-ng-data")}
_FESTVOX_RU = "usr/share/festival/voices/russian/msu_ru_nsh_clunits"
_FILLETS = "usr/share/games/fillets-ng"


@dataclass(frozen=True)
class SpeakerSpec:
    """One bona fide speaker: where the clips are, which language they speak, and their channel.

    ``channel`` is a key of :data:`source_channel.CHANNELS`: how the source was recorded and stored.
    """

    name: str
    language: str
    package: str
    channel: str = "studio_16k"


SPEAKERS = {
    "ru_msu": SpeakerSpec("ru_msu", "ru", "festvox-ru", "studio_16k"),
    "cs_big": SpeakerSpec("cs_big", "cs", "fillets-ng-data-cs", "game_vorbis_22k"),
    "nl_small": SpeakerSpec("nl_small", "nl", "fillets-ng-data-nl", "game_vorbis_22k"),
}


@dataclass(frozen=True)
class Utterance:
    """One real clip.

    Attributes:
        uid: unique id, ``SPEAKER-CLIPID``.
        path: the source audio file.
        speaker: a key of :data:`SPEAKERS`.
        language: ISO 639-1 code.
        text: transcript in ``language`` ("" when unknown).
        text_en: English version of the line ("" when none).
    """

    uid: str
    path: Path
    speaker: str
    language: str
    text: str
    text_en: str


def fetch_packages(cache_dir: Path, debs_dir: Path | None = None) -> Path:
    """Make sure the four Debian packages are unpacked under ``cache_dir/root``; return that root.

    Delegates to :func:`readers.debian.fetch` (``.deb`` from ``debs_dir`` or ``cache_dir/debs``,
    else ``apt-get download``; a marker file per package makes an interrupted extraction redo).
    """
    return debian.fetch(cache_dir, PACKAGES, debs_dir)


def _fish(root: Path, speaker: SpeakerSpec, marker: str) -> list[Utterance]:
    lang = speaker.language
    script = root / _FILLETS / "script"
    lines: dict[str, tuple[str, str, str]] = {}
    for lua in sorted(script.rglob(f"*dialogs_{lang}.lua")):
        lines.update(parse_lua_dialogs(lua.read_text(encoding="utf-8", errors="replace")))
    sound = root / _FILLETS / "sound"
    clips = sorted(p for p in sound.rglob(f"*-{marker}-*.ogg") if p.parent.name == lang)
    out = []
    for path in clips:
        ident = path.stem
        _, english, local = lines.get(ident, ("", "", ""))
        level = path.parent.parent.name
        out.append(Utterance(f"{speaker.name}-{level}-{ident}", path, speaker.name, lang, local, english))
    return out


def list_utterances(root: Path, speaker: str) -> list[Utterance]:
    """All real clips of one speaker, sorted by id (the order never depends on the file system)."""
    if speaker not in SPEAKERS:
        raise ConfigError(f"unknown speaker {speaker!r}; choose from {sorted(SPEAKERS)}")
    spec = SPEAKERS[speaker]
    if spec.package == "festvox-ru":
        base = root / _FESTVOX_RU
        texts = parse_txt_done_data((base / "etc" / "txt.done.data").read_text(encoding="utf-8"))
        out = [Utterance(f"{speaker}-{p.stem}", p, speaker, spec.language, texts.get(p.stem, ""), "")
               for p in (base / "wav").glob("*.wav")]
    else:
        out = _fish(root, spec, "v" if speaker == "cs_big" else "m")
    if not out:
        raise ConfigError(f"{root}: no clips found for speaker {speaker}; delete {root} and rerun to re-extract")
    return sorted(out, key=lambda u: u.uid)

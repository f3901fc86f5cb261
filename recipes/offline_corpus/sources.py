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
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from wavguard.errors import ConfigError

__all__ = [
    "Utterance",
    "SpeakerSpec",
    "SPEAKERS",
    "PACKAGES",
    "fetch_packages",
    "parse_lua_dialogs",
    "parse_txt_done_data",
    "list_utterances",
]

logger = logging.getLogger("offline_corpus")

#: Debian packages and the members each one needs (tar paths without the leading ``./``).
PACKAGES = {
    "festvox-ru": ("usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/",
                   "usr/share/festival/voices/russian/msu_ru_nsh_clunits/etc/txt.done.data"),
    "fillets-ng-data-cs": ("usr/share/games/fillets-ng/sound/",),
    "fillets-ng-data-nl": ("usr/share/games/fillets-ng/sound/",),
    "fillets-ng-data": ("usr/share/games/fillets-ng/script/",),
}
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


def _extract(deb: Path, members: tuple[str, ...], dest: Path) -> None:
    """Extract the listed members (files or folder prefixes) of a .deb's data archive into ``dest``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
            name = info.name[2:] if info.name.startswith("./") else info.name
            if not (info.isfile() and any(name == m or (m.endswith("/") and name.startswith(m)) for m in members)):
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(info)
            assert src is not None
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    if proc.wait() != 0:
        raise ConfigError(f"{deb}: dpkg-deb could not read it (exit {proc.returncode}); delete it and rerun")


def fetch_packages(cache_dir: Path, debs_dir: Path | None = None) -> Path:
    """Make sure the four Debian packages are unpacked under ``cache_dir/root``; return that root.

    Uses ``.deb`` files found in ``debs_dir`` or ``cache_dir/debs``; otherwise runs
    ``apt-get download`` (no root needed). A package counts as unpacked once its marker file
    ``cache_dir/root/.NAME.done`` exists, so an interrupted extraction is redone.
    """
    root = cache_dir / "root"
    root.mkdir(parents=True, exist_ok=True)
    store = cache_dir / "debs"
    for package, members in PACKAGES.items():
        marker = root / f".{package}.done"
        if marker.exists():
            continue
        debs = sorted((debs_dir or store).glob(f"{package}_*.deb")) if (debs_dir or store).is_dir() else []
        if not debs:
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                raise ConfigError(f"{package}: not in {debs_dir or store} and apt-get/dpkg-deb are missing; "
                                  f"copy {package}_*.deb there (apt-get download {package})")
            store.mkdir(parents=True, exist_ok=True)
            logger.info("apt-get download %s", package)
            result = subprocess.run(["apt-get", "download", package], cwd=store, capture_output=True, text=True)
            debs = sorted(store.glob(f"{package}_*.deb"))
            if result.returncode != 0 or not debs:
                raise ConfigError(f"apt-get download {package} failed ({result.stderr.strip()[-300:]}); "
                                  "run `apt-get update` or pass --debs-dir with the .deb files")
        logger.info("extracting %s", debs[-1].name)
        _extract(debs[-1], members, root)
        marker.write_text(debs[-1].name + "\n", encoding="utf-8")
    return root


_STRING = r'"((?:[^"\\]|\\.)*)"'
_DIALOG = re.compile(
    r"dialogId\(\s*" + _STRING + r"\s*,\s*" + _STRING + r"\s*,\s*" + _STRING + r"\s*\)"
    r"(?:\s*dialogStr\(\s*" + _STRING + r"\s*\))?",
    re.S,
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _clean(text: str) -> str:
    """One line of plain text: typographic quotes and dashes to ASCII, no markup, single spaces."""
    table = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "..."})
    text = text.translate(table).replace("\\n", " ")
    return re.sub(r"\s+", " ", text).strip()


def parse_lua_dialogs(text: str) -> dict[str, tuple[str, str, str]]:
    """Parse a fillets-ng ``dialogs_XX.lua`` file.

    Returns:
        ``{dialog_id: (font, english_text, localised_text)}``; localised text is "" when the
        file has no ``dialogStr`` for the id.
    """
    out = {}
    for m in _DIALOG.finditer(text):
        ident, font, english, local = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        out[ident] = (font, _clean(_unescape(english)), _clean(_unescape(local)))
    return out


def parse_txt_done_data(text: str) -> dict[str, str]:
    """Parse a festvox ``txt.done.data``: ``( ru_0001 "text" )`` lines -> ``{id: text}``, ``+`` stress marks removed."""
    out = {}
    for m in re.finditer(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$', text, re.M):
        out[m.group(1)] = _clean(m.group(2).replace("+", ""))
    return out


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

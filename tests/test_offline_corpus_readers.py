"""The offline corpus's source readers, each on a tiny synthetic file in its format (no download)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recipes.offline_corpus.readers import (
    Clip,
    asterisk,
    codec2_talkers,
    festvox_ru,
    fillets,
    ktuberling,
    queen,
    sky,
)

from wavguard.errors import ConfigError


def _wav(path: Path, n: int, rate: int, channels: int = 1, fmt: str = "WAV", subtype: str | None = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, rate, format=fmt, subtype=subtype)
    return path


# ---------------------------------------------------------------- RNC ProPack method 1


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (reflected polynomial 0xA001, initial 0), the checksum RNC headers carry."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class _Bits:
    """RNC method-1 bit stream: 16-bit little-endian words, least significant bit first."""

    def __init__(self):
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        self.bits += [(value >> k) & 1 for k in range(count)]

    def words(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 16)
        return b"".join(
            struct.pack("<H", sum(b << k for k, b in enumerate(bits[i : i + 16]))) for i in range(0, len(bits), 16)
        )


def rnc_literal_block(payload: bytes) -> bytes:
    """A method-1 RNC file holding ``payload`` (4-7 bytes) as one literal run, built from the format.

    Stream: lock bit 0, key bit 0; three Huffman tables (5-bit leaf count, 4-bit code length per
    leaf): the literal-length table has leaves 0-3 with only leaf 3 coded (length 1, code ``0``:
    values 4-7, 2 extra bits), the distance and length tables are empty (one subchunk, no match);
    16-bit subchunk count 1; the code and extra bits of the run length; then the literal bytes,
    which sit in the byte stream after the words the bits were read from.
    """
    assert 4 <= len(payload) <= 7
    bits = _Bits()
    bits.put(0, 1)
    bits.put(0, 1)
    bits.put(4, 5)
    for depth in (0, 0, 0, 1):
        bits.put(depth, 4)
    bits.put(0, 5)
    bits.put(0, 5)
    bits.put(1, 16)
    bits.put(0, 1)  # the one-bit code of leaf 3
    bits.put(len(payload) - 4, 2)  # extra bits: value = 4 + extra
    packed = bits.words() + payload
    header = b"RNC\x01" + struct.pack(">IIHHBB", len(payload), len(packed), _crc16(payload), _crc16(packed), 0, 1)
    return header + packed


def test_crc16_check_value():
    assert _crc16(b"123456789") == 0xBB3D  # CRC-16/ARC's published check value


def test_rnc_method1_literal_block_decompresses_exactly():
    pytest.importorskip("propack", reason="pip install propack==0.3.1 (wavguard-detector[corpus])")
    payload = bytes([0x80, 0x81, 0x7F, 0x00, 0xFF])
    assert sky.unpack_rnc(rnc_literal_block(payload)) == payload


def test_rnc_crc_mismatch_is_an_error():
    pytest.importorskip("propack", reason="pip install propack==0.3.1 (wavguard-detector[corpus])")
    block = bytearray(rnc_literal_block(b"\x10\x20\x30\x40"))
    block[-1] ^= 0xFF  # a literal byte changes: the packed CRC no longer matches
    with pytest.raises(ValueError, match="CRC"):
        sky.unpack_rnc(bytes(block))


def test_rnc_round_trip_through_propack_compressor():
    propack = pytest.importorskip("propack", reason="pip install propack==0.3.1 (wavguard-detector[corpus])")

    data = bytes(range(128, 256)) * 4 + bytes(200)
    assert sky.unpack_rnc(propack.pack(data, method=1)) == data


# ---------------------------------------------------------------- Beneath a Steel Sky


def _dnr_entry(number: int, offset: int, size: int, *, units16: bool = False, headerless: bool = False) -> bytes:
    off = (offset >> 4) | (1 << 23) if units16 else offset
    return struct.pack("<H", number) + off.to_bytes(3, "little") + (size | (headerless << 23)).to_bytes(3, "little")


def test_sky_reader_decodes_a_compressed_and_a_raw_speech_file(tmp_path):
    pytest.importorskip("propack", reason="pip install propack==0.3.1 (wavguard-detector[corpus])")
    header = struct.pack("<11H", 0x81, *range(10))
    raw_pcm = bytes([128, 140, 116, 128, 255, 0])
    comp_pcm = bytes([128, 200, 56, 129, 127])
    files = [
        (100, b"not speech, below 50000"),
        (50001, header + rnc_literal_block(comp_pcm)),
        (50002, header + raw_pcm),
        (50003, b"\x00\x01" * 20),  # headerless data numbered like speech: not audio
    ]
    dsk, entries = bytearray(), []
    for number, blob in files:
        dsk += bytes(-len(dsk) % 16)  # 16-byte aligned, so offsets can be stored in 16-byte units
        entries.append(_dnr_entry(number, len(dsk), len(blob), units16=number == 50002, headerless=number == 50003))
        dsk += blob
    (tmp_path / "sky.dnr").write_bytes(struct.pack("<I", len(entries)) + b"".join(entries))
    (tmp_path / "sky.dsk").write_bytes(bytes(dsk))

    parsed = sky.parse_dnr((tmp_path / "sky.dnr").read_bytes())
    assert [(e.number, e.has_header) for e in parsed] == [(100, True), (50001, True), (50002, True), (50003, False)]
    assert bytes(dsk[parsed[2].offset : parsed[2].offset + parsed[2].size]) == header + raw_pcm

    clips = sky.extract(tmp_path / "sky.dnr", tmp_path / "sky.dsk", tmp_path / "out", jobs=1)
    assert [c.clip_id for c in clips] == ["sky/50001", "sky/50002"]
    assert [c.num_samples for c in clips] == [5, 6]
    assert {(c.sample_rate_hz, c.channel, c.language, c.speaker, c.speaker_reliability) for c in clips} == {
        (11025, "pcm8_11k", "en", "sky:unknown", "none")
    }
    for clip, pcm in zip(clips, (comp_pcm, raw_pcm)):
        info = sf.info(clip.path)
        assert info.subtype == "PCM_U8"
        back, rate = sf.read(clip.path, dtype="int16")
        assert rate == 11025 and [(v >> 8) + 128 for v in back.tolist()] == list(pcm)  # samples unchanged
    assert sky.extract(tmp_path / "sky.dnr", tmp_path / "sky.dsk", tmp_path / "out") == clips  # from the index


# ---------------------------------------------------------------- Flight of the Amazon Queen


def _queen_file(entries: list[tuple[str, bytes]], compression: int = 1) -> bytes:
    head_size = 15 + 21 * len(entries)
    table, body = b"", b""
    for name, blob in entries:
        table += name.encode().ljust(12, b"\0") + struct.pack(">BII", 1, head_size + len(body), len(blob))
        body += blob
    return b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([compression]) + struct.pack(">H", len(entries)) + table + body


def test_queen_table_parses_names_offsets_and_sizes(tmp_path):
    data = _queen_file([("020006J1.SB", b"x" * 7), ("ROOM1.BBK", b"y" * 3)])
    compression, entries = queen.parse_table(data)
    assert compression == 1
    assert [(e.name, e.bundle, e.offset, e.size) for e in entries] == [
        ("020006J1.SB", 1, 57, 7),
        ("ROOM1.BBK", 1, 64, 3),
    ]
    assert data[57:64] == b"x" * 7 and data[64:67] == b"y" * 3
    with pytest.raises(ConfigError, match="QTBL"):
        queen.parse_table(b"RIFF" + data[4:])
    with pytest.raises(ConfigError, match="past the file"):
        queen.parse_table(data[:60])


def test_queen_reader_extracts_mp3_speech_slices(tmp_path):
    mp3 = _wav(tmp_path / "a.mp3", 11025, 11025, fmt="MP3", subtype=None).read_bytes()
    game = tmp_path / "queen.1c"
    game.write_bytes(_queen_file([("020006J1.SB", mp3), ("020006P2.SB", mp3), ("ROOM1.BBK", b"zz")]))
    clips = queen.extract(game, tmp_path / "out")
    assert [(c.clip_id, c.speaker, c.speaker_reliability) for c in clips] == [
        ("queen/020006J1", "queen:J", "game code"),
        ("queen/020006P2", "queen:P", "game code"),
    ]
    assert {(c.language, c.channel, c.sample_rate_hz, c.text) for c in clips} == {("en", "mp3_16kbps_11k", 11025, "")}
    assert Path(clips[0].path).read_bytes() == mp3  # the slice, unchanged
    assert clips[0].num_samples == sf.read(clips[0].path)[0].shape[0]
    samples, rate = clips[0].load()
    assert rate == 11025 and samples.dtype == np.float32 and samples.ndim == 1


# ---------------------------------------------------------------- Asterisk


def test_asterisk_reader_pairs_prompts_with_transcripts(tmp_path):
    voice = tmp_path / asterisk.SOUNDS / "fr_CA_f_June"
    _wav(voice / "agent-loginok.wav", 4000, 8000)
    _wav(voice / "digits" / "1.wav", 2400, 8000)
    _wav(voice / "silence" / "1.wav", 8000, 8000)
    _wav(tmp_path / asterisk.SOUNDS / "en_US_f_Allison" / "beep.wav", 800, 8000)  # another language's voice
    doc = tmp_path / "usr/share/doc/asterisk-core-sounds-fr/core-sounds-fr.txt.gz"
    doc.parent.mkdir(parents=True)
    doc.write_bytes(
        gzip.compress(
            "; Core Asterisk Sounds in French\n\nagent-loginok: Vous êtes  maintenant en ligne.\n"
            "digits/1: un\n".encode()
        )
    )
    clips = asterisk.list_clips(tmp_path, "fr")
    assert [(c.clip_id, c.text, c.num_samples) for c in clips] == [
        ("asterisk_fr/agent-loginok", "Vous êtes maintenant en ligne.", 4000),
        ("asterisk_fr/digits/1", "un", 2400),
    ]
    assert {(c.speaker, c.speaker_reliability, c.language, c.channel, c.sample_rate_hz, c.source) for c in clips} == {
        ("asterisk:june", "voice", "fr", "telephone_8k", 8000, "asterisk-core-sounds-fr-wav")
    }
    assert asterisk.parse_transcripts("; c\nvm-INBOX: new\nnot a prompt line\n") == {"vm-INBOX": "new"}


# ---------------------------------------------------------------- Fish Fillets

_LUA_CS = """
dialogId("sp-v-ahoj", "font_big", "Hello.")
dialogStr("Ahoj.")

dialogId("sp-m-ahoj", "font_small", "Hi.")
dialogStr("Čau.")

dialogId("sp-3-rum", "font_viking3", "Rum!")
dialogStr("Rum!")

dialogId("sp-x-hlas", "font_white", "A \\"voice\\".")
dialogStr("Hlas.")

dialogId("sp-o-oba", "font_both", "Both!")
dialogStr("Oba!")
"""


def test_fillets_reader_keeps_big_fish_and_side_characters_by_font(tmp_path):
    base = tmp_path / fillets.BASE
    (base / "script" / "start").mkdir(parents=True)
    (base / "script" / "start" / "dialogs_cs.lua").write_text(_LUA_CS, encoding="utf-8")
    for ident in ("sp-v-ahoj", "sp-m-ahoj", "sp-3-rum", "sp-x-hlas", "sp-o-oba", "sp-v-bez-textu"):
        _wav(base / "sound" / "start" / "cs" / f"{ident}.ogg", 2205, 22050, fmt="OGG", subtype="VORBIS")
    _wav(base / "sound" / "share" / "start" / "cs" / "sp-v-ahoj.ogg", 4410, 44100, 2, fmt="OGG", subtype="VORBIS")
    clips = fillets.list_clips(tmp_path, "cs")
    got = [(c.clip_id, c.speaker, c.speaker_reliability, c.text, c.text_en, c.channel) for c in clips]
    assert got == [
        ("fillets_cs/share/start/sp-v-ahoj", "fillets_cs:big_fish", "font", "Ahoj.", "Hello.", "game_vorbis_44k"),
        ("fillets_cs/start/sp-3-rum", "fillets_cs:viking3", "font", "Rum!", "Rum!", "game_vorbis_22k"),
        ("fillets_cs/start/sp-v-ahoj", "fillets_cs:big_fish", "font", "Ahoj.", "Hello.", "game_vorbis_22k"),
        (
            "fillets_cs/start/sp-x-hlas",
            "fillets_cs:white@start",
            "font+level",
            "Hlas.",
            'A "voice".',
            "game_vorbis_22k",
        ),
    ]  # no small fish, no "both", no clip without a line
    assert {(c.language, c.source) for c in clips} == {("cs", "fillets-ng-data-cs")}
    assert clips[0].sample_rate_hz == 44100 and clips[1].num_samples == 2205


def test_fillets_reader_keeps_only_the_dutch_small_fish(tmp_path):
    base = tmp_path / fillets.BASE
    (base / "script" / "start").mkdir(parents=True)
    (base / "script" / "start" / "dialogs_nl.lua").write_text(
        'dialogId("sp-m-ahoj", "font_small", "Hi.")\ndialogStr("Hoi.")\n'
        'dialogId("sp-v-ahoj", "font_big", "Hello.")\ndialogStr("Hallo.")\n',
        encoding="utf-8",
    )
    for ident in ("sp-m-ahoj", "sp-v-ahoj"):
        _wav(base / "sound" / "start" / "nl" / f"{ident}.ogg", 2205, 22050, fmt="OGG", subtype="VORBIS")
    clips = fillets.list_clips(tmp_path, "nl")
    assert [(c.clip_id, c.speaker, c.text, c.language) for c in clips] == [
        ("fillets_nl/start/sp-m-ahoj", "fillets_nl:small_fish", "Hoi.", "nl")
    ]


# ---------------------------------------------------------------- festvox-ru


def test_festvox_ru_reader(tmp_path):
    base = tmp_path / festvox_ru.BASE
    _wav(base / "wav" / "ru_0001.wav", 16000, 16000)
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "txt.done.data").write_text('( ru_0001 "Окн+а дом+ов." )\n', encoding="utf-8")
    (clip,) = festvox_ru.list_clips(tmp_path)
    assert (
        clip.clip_id,
        clip.speaker,
        clip.speaker_reliability,
        clip.language,
        clip.channel,
        clip.text,
        clip.num_samples,
        clip.duration_seconds,
    ) == ("festvox_ru/ru_0001", "festvox_ru:msu_ru_nsh", "verified", "ru", "studio_16k", "Окна домов.", 16000, 1.0)


# ---------------------------------------------------------------- ktuberling


def test_ktuberling_reader_one_key_per_folder_and_no_duplicates(tmp_path):
    sounds = tmp_path / ktuberling.SOUNDS
    _wav(sounds / "de" / "hut.ogg", 8000, 16000, fmt="OGG", subtype="VORBIS")
    _wav(sounds / "nn" / "hatt.opus", 4800, 48000, fmt="OGG", subtype="OPUS")
    _wav(sounds / "sr" / "sesir.wav", 1600, 16000)
    _wav(sounds / "sr@latin" / "sesir.wav", 1600, 16000)  # the same bytes under another script variant
    (sounds / "de.soundtheme").write_text("<language code='de'/>")
    clips = ktuberling.list_clips(tmp_path)
    assert [(c.clip_id, c.speaker, c.language, c.channel, c.sample_rate_hz) for c in clips] == [
        ("ktuberling/de/hut", "ktuberling:de", "de", "words_vorbis", 16000),
        ("ktuberling/nn/hatt", "ktuberling:nn", "nn", "words_opus", 48000),
        ("ktuberling/sr/sesir", "ktuberling:sr", "sr", "words_pcm", 16000),
    ]
    assert clips[2].num_samples == 1600 and {c.speaker_reliability for c in clips} == {"language folder"}


# ---------------------------------------------------------------- codec2 talkers


def test_codec2_reader_turns_raw_s16le_into_wav(tmp_path):
    raw = tmp_path / codec2_talkers.BASE / "raw" / "hts.raw"
    raw.parent.mkdir(parents=True)
    samples = np.array([0, 1000, -1000, 32767, -32768, 7], dtype="<i2")
    samples.tofile(raw)
    _wav(tmp_path / codec2_talkers.BASE / "wav" / "wia_16kHz.wav", 16000, 16000)
    clips = codec2_talkers.list_clips(
        tmp_path, tmp_path / "out", {"raw/hts.raw": "codec_test_8k", "wav/wia_16kHz.wav": "codec_test_16k"}
    )
    assert [(c.clip_id, c.speaker, c.channel, c.sample_rate_hz, c.num_samples) for c in clips] == [
        ("codec2/hts", "codec2:hts", "codec_test_8k", 8000, 6),
        ("codec2/wia_16kHz", "codec2:wia_16kHz", "codec_test_16k", 16000, 16000),
    ]
    back, rate = sf.read(clips[0].path, dtype="int16")
    assert rate == 8000 and back.tolist() == samples.tolist()


def test_clip_rejects_unknown_channel():
    with pytest.raises(ValueError, match="channel"):
        Clip("x/1", "p", "/x.wav", "s", "none", "en", "cassette", "", "", 8000, 1)

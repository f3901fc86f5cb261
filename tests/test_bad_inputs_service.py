"""Every kind of bad upload we can build, through the real service (issue 17, "Also").

Each case asserts the HTTP status and the error class; the batch endpoint must keep the good
file's result next to the bad ones; and no response is ever a 5xx.
"""

import base64

import httpx
import numpy as np
import pytest
from _bad_audio import encoded, flac_with, int16_wav, nan_float_wav, wav_header
from _servers import ServerThread

from wavguard.serve import ServiceSettings, create_app
from wavguard.testing import chirp, tiny_detector

MAX_UPLOAD = 600_000
MAX_FILES = 32


def _clip(seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    n = int(seconds * 16000)
    return chirp(seconds)[:n] + 0.01 * rng.standard_normal(n).astype(np.float32)


def _truncated(fmt: str, subtype: str | None = None) -> bytes:
    data = encoded(_clip(), 16000, fmt, subtype)
    return data[: len(data) // 2]


def _wav_with_format_code(code: int) -> bytes:
    header = bytearray(wav_header(16000, 2000))
    header[20:22] = code.to_bytes(2, "little")
    return bytes(header) + b"\x01" * 2000


#: (name, bytes, status, error class) of every bad file; all fit in one batch request.
BAD_FILES = [
    ("empty.wav", b"", 422, "EmptyAudioError"),
    ("not-audio.wav", b"hello, this is a text file\n" * 20, 415, "AudioDecodeError"),
    ("garbage.mp3", b"\x00garbage" * 100, 415, "AudioDecodeError"),
    ("truncated.wav", _truncated("WAV"), 415, "AudioDecodeError"),
    ("truncated.flac", _truncated("FLAC"), 415, "AudioDecodeError"),
    ("truncated.mp3", _truncated("MP3"), 415, "AudioDecodeError"),
    ("riff-only.wav", b"RIFF\x24\x00\x00\x00WAVE", 415, "AudioDecodeError"),
    ("header-only.wav", wav_header(16000, 0), 422, "EmptyAudioError"),
    ("nan.wav", nan_float_wav(), 422, "InvalidAudioError"),
    ("one-hertz.wav", int16_wav(1, 20_000), 422, "SampleRateError"),
    ("999-hz.wav", int16_wav(999, 20_000), 422, "SampleRateError"),
    ("two-megahertz.wav", int16_wav(2_000_000, 20_000), 422, "SampleRateError"),
    ("one-hertz.flac", flac_with(_clip(1.0), header_rate_hz=1), 422, "SampleRateError"),
    ("huge-duration.flac", flac_with(_clip(1.0), header_frames=(1 << 36) - 1), 413, "AudioTooLong"),
    ("long-at-1khz.wav", int16_wav(1000, 30_000), 413, "AudioTooLong"),
    ("zero-channels.wav", wav_header(16000, 2000, channels=0) + b"\x00" * 2000, 415, "AudioDecodeError"),
    ("60000-channels.wav", wav_header(16000, 120_000, channels=60000) + b"\x01" * 120_000, 415, "AudioDecodeError"),
    ("zero-bits.wav", wav_header(16000, 2000, bits=0) + b"\x01" * 2000, 415, "AudioDecodeError"),
    ("unknown-codec.wav", _wav_with_format_code(0x1234), 415, "AudioDecodeError"),
    ("silent.wav", encoded(np.zeros(16000, np.float32)), 422, "SilentAudioError"),
    ("too-short.wav", encoded(chirp(0.002)), 422, "AudioTooShortError"),
]

#: A truncated Ogg Vorbis file: refused today as empty (422) or, once the library detects
#: truncated Ogg like the other formats (issue 17, item 7), as AudioDecodeError (415).
OGG = ("truncated.ogg", _truncated("OGG", "VORBIS"), {415: "AudioDecodeError", 422: "EmptyAudioError"})


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="module")
def good():
    return encoded(_clip(2.5))


@pytest.fixture(scope="module")
def url(detector):
    settings = ServiceSettings(max_upload_bytes=MAX_UPLOAD, max_duration_seconds=10.0, max_batch_files=MAX_FILES)
    with ServerThread(create_app(detector, settings, ui=False)) as base:
        yield base


def _assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["error"] == error and detail["message"], detail


@pytest.mark.parametrize("name, data, status, error", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_each_bad_file_gets_its_status_and_error_class(url, name, data, status, error):
    multipart = httpx.post(f"{url}/v1/predict", files={"file": (name, data)}, timeout=60)
    _assert_error(multipart, status, error)
    if data:  # an empty file is also refused as JSON, as "no audio" (base64 of nothing)
        as_json = httpx.post(
            f"{url}/v1/predict", json={"audio_base64": base64.b64encode(data).decode(), "filename": name}
        )
        _assert_error(as_json, status, error)
        assert name in as_json.json()["detail"]["message"] or status == 413


def test_a_truncated_ogg_is_refused(url):
    name, data, expected = OGG
    response = httpx.post(f"{url}/v1/predict", files={"file": (name, data)})
    assert response.status_code in expected, response.text
    assert response.json()["detail"]["error"] == expected[response.status_code]


def test_a_batch_keeps_the_good_results_next_to_every_bad_file(url, detector, good):
    bad = [(n, d) for n, d, _, _ in BAD_FILES] + [OGG[:2]]
    files = (
        [("files", ("good-first.wav", good))] + [("files", item) for item in bad] + [("files", ("good-last.wav", good))]
    )
    assert len(files) <= MAX_FILES
    response = httpx.post(f"{url}/v1/predict/batch", files=files, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(files)
    expected = detector.predict(good).score
    for result in (results[0], results[-1]):
        assert result["status"] == 200 and result["score"] == pytest.approx(expected, abs=1e-5)
    for (name, _, status, error), result in zip(BAD_FILES, results[1:]):
        assert (result["status"], result["error"], result["source"]) == (status, error, name)
    ogg = results[-2]
    assert ogg["status"] in OGG[2] and ogg["error"] == OGG[2][ogg["status"]]


@pytest.mark.parametrize(
    "content, headers, status, error",
    [
        (b"RIFF....", {"content-type": "audio/wav"}, 415, "UnsupportedMediaType"),
        (b"raw", {"content-type": "text/plain"}, 415, "UnsupportedMediaType"),
        (b"raw", {}, 415, "UnsupportedMediaType"),
        (b'{"audio_base64": "%%% not base64"}', {"content-type": "application/json"}, 422, "InvalidRequest"),
        (b'{"audio_base64": "UklGRg="}', {"content-type": "application/json"}, 422, "InvalidRequest"),  # bad padding
        (b'{"audio_base64": 12}', {"content-type": "application/json"}, 422, "InvalidRequest"),
        (b'{"files": "not a list"}', {"content-type": "application/json"}, 422, "InvalidRequest"),
        (b'["a", "b"]', {"content-type": "application/json"}, 422, "InvalidRequest"),
        (b'{"nothing": 1}', {"content-type": "application/json"}, 422, "InvalidRequest"),
        (b"{not json", {"content-type": "application/json"}, 422, "InvalidRequest"),
        (
            b"--xyz\r\ngarbage without headers",
            {"content-type": "multipart/form-data; boundary=xyz"},
            422,
            "InvalidRequest",
        ),
        (b"", {"content-type": "multipart/form-data"}, 422, "InvalidRequest"),  # no boundary at all
    ],
)
def test_malformed_requests_are_clear_4xx(url, content, headers, status, error):
    _assert_error(httpx.post(f"{url}/v1/predict", content=content, headers=headers), status, error)


def test_a_form_without_a_file_and_bad_thresholds(url, good):
    _assert_error(httpx.post(f"{url}/v1/predict", files={"other": (None, "text")}), 422, "InvalidRequest")
    for threshold in ("abc", "nan", "-0.1", "1.5", "inf"):
        response = httpx.post(f"{url}/v1/predict?threshold={threshold}", files={"file": ("g.wav", good)})
        _assert_error(response, 422, "InvalidRequest")


def test_too_many_files_is_413_however_many(url, good):
    tiny = encoded(chirp(0.1))
    for count in (MAX_FILES + 1, MAX_FILES + 10):
        files = [("files", (f"f{i}.wav", tiny)) for i in range(count)]
        _assert_error(httpx.post(f"{url}/v1/predict/batch", files=files), 413, "PayloadTooLarge")
    items = [{"audio_base64": base64.b64encode(tiny).decode()}] * (MAX_FILES + 1)
    _assert_error(httpx.post(f"{url}/v1/predict/batch", json={"files": items}), 413, "PayloadTooLarge")
    _assert_error(
        httpx.post(f"{url}/v1/predict", files=[("a", ("a.wav", good)), ("b", ("b.wav", good))]), 413, "PayloadTooLarge"
    )


def test_oversized_uploads_are_413_declared_or_streamed(url):
    big = b"\x00" * (MAX_UPLOAD + 100_000)
    _assert_error(httpx.post(f"{url}/v1/predict", files={"file": ("big.wav", big)}), 413, "PayloadTooLarge")

    def chunks():  # no Content-Length: the limit is enforced while reading
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    streamed = httpx.post(
        f"{url}/v1/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    _assert_error(streamed, 413, "PayloadTooLarge")


def test_no_bad_input_ever_got_a_5xx(url):
    """Run last in this module, it sees every request above; alone, it still sees one."""
    httpx.post(f"{url}/v1/predict", files={"file": BAD_FILES[0][:2]})
    text = httpx.get(f"{url}/metrics").text
    statuses = {
        line.split('status="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("wavguard_requests_total{")
    }
    assert statuses and not any(s.startswith("5") for s in statuses), statuses
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"


def test_the_suite_covers_every_kind_the_issue_lists():
    names = " ".join(c[0] for c in BAD_FILES) + " " + OGG[0]
    for kind in (
        "empty",
        "not-audio",
        "truncated.wav",
        "truncated.flac",
        "truncated.mp3",
        "truncated.ogg",
        "nan",
        "one-hertz",
        "two-megahertz",
        "huge-duration",
        "zero-channels",
    ):
        assert kind in names
    assert all(400 <= c[2] < 500 for c in BAD_FILES)

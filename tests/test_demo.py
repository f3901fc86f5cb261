"""The demo page: its pieces as functions, then the real page in a headless Chromium.

The browser tests start the page on a loopback port, upload files through the page's file input
and read what the page shows. They need gradio, selenium, and Debian's ``chromium`` +
``chromium-driver`` (``apt-get install -y chromium chromium-driver``); they are skipped, with the
reason, when any of these is missing. The tiny detector's invented card facts stay in the tests:
the README's picture comes from ``scripts/demo_screenshot.py`` and the released detector.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _servers import ServerThread, free_port
from scripts.demo_screenshot import CHROMEDRIVER, CHROMIUM, capture, chromium_driver

from wavguard import Detector
from wavguard.cli import build_parser
from wavguard.demo import analyze, build_demo, error_html, model_card_markdown, timeline_figure, verdict_html
from wavguard.errors import AudioDecodeError, AudioError
from wavguard.testing import chirp, sine, tiny_detector

SAMPLE_RATE_HZ = 16000


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Harmonic 'syllables': a random pitch under a pulsing envelope, float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 2
    f0 = rng.uniform(100, 220)
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    return (0.08 * envelope * voice).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 6 s clip whose seconds differ (syllables, chirp, noise, tone), a 2.5 s clip, and text named .wav."""
    root = tmp_path_factory.mktemp("demo-audio")
    rng = np.random.default_rng(0)
    parts = [
        _speechlike(1, 1),
        0.3 * chirp(1.0, f0_hz=300, f1_hz=6000),
        _speechlike(1, 2),
        0.2 * rng.standard_normal(SAMPLE_RATE_HZ).astype(np.float32),
        _speechlike(1, 3),
        sine(1.0, frequency_hz=440),
    ]
    six = np.concatenate(parts) + 0.005 * rng.standard_normal(6 * SAMPLE_RATE_HZ).astype(np.float32)
    out = {"six": root / "interview.wav", "short": root / "short.flac", "bad": root / "bad.wav"}
    sf.write(out["six"], six, SAMPLE_RATE_HZ, subtype="PCM_16")
    sf.write(out["short"], chirp(2.5) + 0.02 * rng.standard_normal(40000).astype(np.float32), SAMPLE_RATE_HZ)
    out["bad"].write_bytes(b"this is a text file, not audio\n" * 20)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny test detector (1 s windows), saved with a calibration that spreads its window
    scores (so the timeline shows contrast) and model-card facts; a stable backbone name keeps
    the screenshot the same from run to run."""
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    det.config = det.config.replace(
        backbone="tiny-random-wav2vec2",  # shown on the card; the saved detector bundles this backbone
        calibration_scale=20.0,
        calibration_bias=4.0,
        metrics={"roc_auc": 0.987, "eer": 0.0312, "min_dcf": 0.081},
        extra={"dataset": "ASVspoof 2019 LA (train split)", "training": {"epochs": 3, "training_seconds": 1234.5}},
    )
    return det.save_pretrained(tmp_path_factory.mktemp("demo-model") / "detector")


@pytest.fixture(scope="module")
def detector(model_dir):
    return Detector.from_pretrained(model_dir)


# -- the page's pieces, no browser ---------------------------------------------------------
def test_analyze_equals_predict_and_names_the_upload(detector, files):
    result = analyze(detector, files["six"], name="my clip.wav")
    expected = detector.predict(str(files["six"]))
    assert result.prediction == expected
    assert result.audio_sha256 == hashlib.sha256(files["six"].read_bytes()).hexdigest()
    assert result.samples.shape == (6 * SAMPLE_RATE_HZ,) and result.sample_rate_hz == SAMPLE_RATE_HZ
    with pytest.raises(AudioDecodeError) as info:
        analyze(detector, files["bad"], name="upload.wav")
    assert str(info.value).startswith("upload.wav: cannot be decoded as audio")
    with pytest.raises(AudioError, match=r"^short\.flac: 2\.5 s of audio; this page accepts at most 2 s"):
        analyze(detector, files["short"], max_duration_seconds=2.0)


def test_verdict_and_error_cards(detector, files):
    result = analyze(detector, files["six"])
    pred = result.prediction
    card = verdict_html(result)
    assert f'data-label="{pred.label}"' in card and f'data-score="{pred.score!r}"' in card
    assert f'<div class="wg-label">{pred.label.upper()}</div>' in card
    assert f"{100 * pred.score:.1f}%</b>" in card and "(threshold 50.0%: fake at or above it)" in card
    assert "interview.wav &middot; 6.00 s &middot; 6 windows scored" in card
    worst = max(pred.segments, key=lambda s: s.score)
    assert f"{worst.start_seconds:.1f}&ndash;{worst.end_seconds:.1f} s ({100 * worst.score:.1f}%)" in card
    assert error_html("a <b>.wav: bad") == (
        '<div id="wg-error" class="wg-error"><b>Cannot score this audio.</b><br>a &lt;b&gt;.wav: bad</div>'
    )


def test_model_card_lists_eer_first_and_the_training_data(detector):
    text = model_card_markdown(detector.config, "user/detector")
    table = [line for line in text.splitlines() if line.startswith("| ") and "metric" not in line and "---" not in line]
    assert table == ["| EER | 3.12% |", "| min_dcf | 0.081 |", "| roc_auc | 0.987 |"]
    assert "- **Detector:** `user/detector`" in text
    assert "- **Backbone:** Wav2Vec2 (" in text and "with a CNN head" in text and "Runtime" not in text
    assert "- **Runtime:** PyTorch (cpu)" in model_card_markdown(detector.config, "x", "PyTorch (cpu)")
    assert "- **Dataset:** ASVspoof 2019 LA (train split)" in text and "- training seconds: 1234.5" in text
    assert "Treat the score as evidence, not proof." in text
    custom = detector.config.replace(metrics={}, extra={"limitations": "English read speech only."})
    text = model_card_markdown(custom, "x")
    assert "English read speech only." in text and "- **Dataset:** not recorded" in text
    assert "No evaluation results are recorded" in text


def test_model_card_names_backbone_and_data_and_rounds_the_threshold(detector, tmp_path):
    """The released detector's panel: backbone by name (not the cache path of the converted weights),
    training data by name (not ``<Dataset of 500 rows>``), threshold to 3 decimals."""
    cache = tmp_path / ".cache" / "wavguard" / "whisper-base"
    cache.mkdir(parents=True)
    config = detector.config.replace(
        backbone=str(cache),
        threshold=0.490932,
        extra={"dataset": "wavguard offline corpus", "training": {"train_data": "<Dataset of 500 rows>", "epochs": 3}},
    )
    text = model_card_markdown(config, "x")
    assert "(`whisper-base`" in text and str(cache) not in text
    assert "- train data: wavguard offline corpus (500 rows)" in text and "<Dataset" not in text
    assert "P(fake) >= 0.491" in text and "0.490932" not in text
    # a recorded name is Markdown already (the release's carries code spans): shown as written, not
    # wrapped in another code span
    name = "OpenAI Whisper-base encoder (converted by `wavguard.models.whisper_offline`; bundled in `backbone/`)"
    named = config.replace(extra={"backbone_name": name, "training": {"train_data": "<Dataset of 7 rows>"}})
    text = model_card_markdown(named, "x")
    assert f"- **Backbone:** Wav2Vec2 ({name}) with a CNN head" in text
    assert "- train data: an in-memory dataset (7 rows)" in text
    hub_backbone = config.replace(backbone="facebook/wav2vec2-base", extra={})
    assert "- **Backbone:** Wav2Vec2 (`facebook/wav2vec2-base`) with a CNN head" in model_card_markdown(
        hub_backbone, "x"
    )
    short = config.replace(
        extra={
            "dataset": "a paragraph " * 20,
            "dataset_name": "my corpus",
            "training": {"train_data": "<Dataset of 9 rows>"},
        }
    )
    assert "- train data: my corpus (9 rows)" in model_card_markdown(short, "x")
    local = config.replace(extra={"training": {"train_data": str(tmp_path / "data" / "train.csv")}})
    assert "- train data: train.csv" in model_card_markdown(local, "x")


@pytest.mark.slow
def test_an_onnx_export_gives_the_same_page_numbers(detector, files, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX export needs the [export] extra")
    gr = pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    from wavguard.export.onnx import export_onnx

    onnx = Detector.from_pretrained(export_onnx(detector, tmp_path / "onnx"))
    assert onnx.backend_name in ("onnx", "onnx-int8")
    result = analyze(onnx, files["six"])
    assert result.prediction == onnx.predict(str(files["six"]))
    np.testing.assert_allclose(result.prediction.score, detector.predict(str(files["six"])).score, atol=1e-4)
    blocks = build_demo(onnx, model_id="user/detector-onnx")
    card = [b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and "Runtime" in str(b.value)]
    assert len(card) == 1 and "- **Runtime:** ONNX Runtime (CPU, onnx)" in card[0]


def test_timeline_draws_one_bar_per_window(detector, files):
    result = analyze(detector, files["six"])
    fig = timeline_figure(result)
    wave_ax, score_ax = fig.axes
    heights = [patch.get_height() for patch in score_ax.patches]
    np.testing.assert_allclose(heights, [s.score for s in result.prediction.segments])
    assert [patch.get_x() for patch in score_ax.patches] == [s.start_seconds for s in result.prediction.segments]
    assert score_ax.get_xlim() == (0.0, 6.0) and score_ax.get_ylim() == (0.0, 1.0)
    assert len(wave_ax.patches) == 6  # one tinted span per window


def test_cli_demo_and_serve_options():
    args = build_parser().parse_args(["demo", "det/", "--host", "0.0.0.0", "--port", "7000", "--share"])
    assert (args.model, args.host, args.port, args.share, args.max_duration_seconds) == (
        "det/",
        "0.0.0.0",
        7000,
        True,
        600.0,
    )
    assert build_parser().parse_args(["serve", "det/", "--no-ui"]).no_ui is True


def test_without_gradio_the_service_has_no_page_and_demo_says_what_to_install(detector, model_dir, monkeypatch, capsys):
    from wavguard.cli import main
    from wavguard.demo import gradio_available
    from wavguard.serve import ServiceSettings, create_app

    monkeypatch.setitem(sys.modules, "gradio", None)  # as if it were not installed
    assert not gradio_available()
    app = create_app(detector, ServiceSettings())
    assert "/ui" not in [getattr(route, "path", None) for route in app.routes]
    assert main(["demo", str(model_dir)]) == 2  # ConfigError: usage
    assert "the demo page needs gradio: pip install 'wavguard-detector[demo]'" in capsys.readouterr().err
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'wavguard-detector\[demo\]'"):
        build_demo(detector)


def test_space_app_loads_the_detector_named_by_the_variable(model_dir, monkeypatch):
    gr = pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    import runpy

    app_py = Path(__file__).resolve().parents[1] / "examples" / "space" / "app.py"
    monkeypatch.setenv("WAVGUARD_MODEL", str(model_dir))
    space = runpy.run_path(str(app_py), run_name="space_app")
    assert isinstance(space["demo"], gr.Blocks) and space["detector"].config.calibration_scale == 20.0
    monkeypatch.delenv("WAVGUARD_MODEL")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    space = runpy.run_path(str(app_py), run_name="space_app")
    assert space["detector"] is None and space["MODEL_ID"] == "your-user/your-wavguard-detector"
    shown = [getattr(block, "value", "") for block in space["demo"].blocks.values()]
    assert any("your-user/your-wavguard-detector" in str(v) and "wg-load-error" in str(v) for v in shown)


def test_service_page_asks_for_an_api_key(detector):
    pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    import httpx

    from wavguard.serve import ServiceSettings, create_app

    with ServerThread(create_app(detector, ServiceSettings(api_keys=("s3cret",)))) as base:
        client = httpx.Client(base_url=base)
        assert client.get("/ui/config").status_code == 401
        assert client.post("/ui/login", data={"username": "anyone", "password": "wrong"}).status_code == 400
        assert client.post("/ui/login", data={"username": "anyone", "password": "s3cret"}).json() == {"success": True}
        assert client.get("/ui/config").status_code == 200
        assert client.get("/v1/model").status_code == 401  # the API still wants the key in a header


# -- the real page in Chromium ---------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    pytest.importorskip("selenium", reason="browser tests need selenium: pip install selenium")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(f"browser tests need {' and '.join(missing)}: apt-get install -y chromium chromium-driver")
    driver, profile = chromium_driver()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def demo_url(browser, detector, model_dir):
    from wavguard.demo import launch_demo

    port = free_port()
    blocks = launch_demo(detector, model_id="wavguard/tiny-demo", port=port, block=False, max_duration_seconds=60)
    yield f"http://127.0.0.1:{port}/"
    blocks.close()


def _open(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-empty"))


def _upload(driver, path: Path):
    """Send ``path`` to the page's file input; returns the verdict or error element once shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "#wg-audio input[type=file]").send_keys(str(path))
    return WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-verdict, #wg-error"))[0]


def _check_verdict(element, expected) -> None:
    from selenium.webdriver.common.by import By

    assert element.get_attribute("id") == "wg-verdict"
    assert element.find_element(By.CSS_SELECTOR, ".wg-label").text == expected.label.upper()
    assert element.find_element(By.CSS_SELECTOR, ".wg-score-value").text == f"{100 * expected.score:.1f}%"
    assert float(element.get_attribute("data-score")) == expected.score
    assert float(element.get_attribute("data-threshold")) == expected.threshold


def test_page_shows_the_detectors_verdict_and_timeline(browser, demo_url, detector, files, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, demo_url)
    card = browser.find_element(By.CSS_SELECTOR, "#wg-card").text
    assert "wavguard/tiny-demo" in card and "ASVspoof 2019 LA (train split)" in card
    assert card.index("EER") < card.index("roc_auc") and "3.12%" in card
    # the README picture's script: upload, wait for the verdict and the timeline image, save the PNG
    shot = capture(browser, demo_url, files["six"], tmp_path / "demo.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "demo.tmp.png").exists()
    _check_verdict(browser.find_element(By.CSS_SELECTOR, "#wg-verdict"), detector.predict(str(files["six"])))

    # Everything the page loaded came from the local server (no CDN fonts, no analytics).
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and [u for u in loaded if not u.startswith((demo_url, "data:", "blob:"))] == []

    # A short clip (one verdict over 3 windows) replaces it; the page never shows a traceback.
    _open(browser, demo_url)
    _check_verdict(_upload(browser, files["short"]), detector.predict(str(files["short"])))
    assert "Traceback" not in browser.page_source


def test_page_shows_the_wavguard_error_for_a_bad_file(browser, demo_url, detector, files):
    _open(browser, demo_url)
    element = _upload(browser, files["bad"])
    with pytest.raises(AudioDecodeError) as info:
        detector.predict(str(files["bad"]))
    assert element.get_attribute("id") == "wg-error"
    assert element.text == f"Cannot score this audio.\nbad.wav: {info.value.reason}"
    assert "Traceback" not in browser.page_source


def test_page_scores_a_microphone_recording(browser, demo_url, detector, tmp_path):
    """Chromium's fake microphone (a beeping tone) records about 2.5 s through the page."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, demo_url)
    browser.find_element(By.CSS_SELECTOR, "#wg-audio button[aria-label='Record audio']").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#wg-audio .record-button").is_displayed()
    )
    browser.find_element(By.CSS_SELECTOR, "#wg-audio .record-button").click()
    time.sleep(2.5)
    browser.find_element(By.CSS_SELECTOR, "#wg-audio .stop-button").click()
    element = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-verdict, #wg-error"))[0]
    assert "microphone recording" in element.text
    link = WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-audio a[href*='/file=']"))[
        0
    ]
    recorded = tmp_path / "recording.wav"
    recorded.write_bytes(httpx.get(link.get_attribute("href")).content)
    expected = detector.predict(str(recorded))
    assert expected.duration_seconds > 1.5
    _check_verdict(element, expected)


def test_service_mounts_the_page_and_stores_feedback(browser, detector, files, tmp_path):
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from wavguard.serve import PredictionStore, ServiceSettings, create_app

    db = tmp_path / "log.sqlite"
    app = create_app(detector, ServiceSettings(log_db=str(db), model_id="wavguard/tiny-demo"))
    assert "/ui" in [getattr(route, "path", None) for route in app.routes]
    with ServerThread(app) as base:
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        _open(browser, f"{base}/ui/")
        expected = detector.predict(str(files["short"]))
        _check_verdict(_upload(browser, files["short"]), expected)
        wrong = browser.find_element(By.CSS_SELECTOR, "#wg-wrong")
        WebDriverWait(browser, 10).until(lambda d: wrong.is_enabled())
        wrong.click()
        WebDriverWait(browser, 30).until(lambda d: "Thank you" in d.find_element(By.CSS_SELECTOR, "#wg-feedback").text)
        browser.get("about:blank")  # close the page's open connections so the server stops at once
    store = PredictionStore(db)
    try:
        [row] = store.feedback()
        true_label = "real" if expected.label == "fake" else "fake"
        assert (row["true_label"], row["audio"], row["note"]) == (
            true_label,
            None,
            f"demo page: the verdict was {expected.label}",
        )
        logged = store.get_prediction(row["prediction_id"])
        assert logged["audio_sha256"] == row["audio_sha256"] == hashlib.sha256(files["short"].read_bytes()).hexdigest()
        assert (logged["score"], logged["label"], logged["model_id"]) == (
            expected.score,
            expected.label,
            "wavguard/tiny-demo",
        )
    finally:
        store.close()
    with ServerThread(create_app(detector, ServiceSettings(), ui=False)) as base:
        assert httpx.get(f"{base}/ui/").status_code == 404

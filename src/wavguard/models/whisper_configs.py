"""Hugging Face configs for a converted Whisper checkpoint: model config, generation config
(special tokens, suppressed tokens, alignment heads), feature extractor and tokenizer files.
Used by :mod:`.whisper_convert`."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelLoadError

__all__ = ["whisper_configs", "save_whisper_processor"]


def _special_ids(tokens: dict[str, int], vocab_size: int) -> dict[str, int]:
    """bos/eos/pad and decoder-start ids: from the tokenizer, else OpenAI's layout (50257 or 50256
    for English-only vocabularies of 51864), clipped into toy vocabularies."""
    multilingual = vocab_size >= 51865
    eos = tokens.get("<|endoftext|>", 50257 if multilingual else 50256)
    if eos >= vocab_size - 1:
        eos = vocab_size - 2
    sot = tokens.get("<|startoftranscript|>", eos + 1)
    return {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "decoder_start_token_id": sot}


def _generation_config(config, tokens: dict[str, int], ct2_config: dict):
    """Whisper's generation settings: special ids, language and task tokens, suppressed tokens."""
    from transformers import GenerationConfig

    ids = _special_ids(tokens, config.vocab_size)
    multilingual = config.vocab_size >= 51865
    gen = GenerationConfig(
        **ids, max_length=config.max_target_positions, is_multilingual=multilingual, return_timestamps=False
    )
    for attr, token in (("no_timestamps_token_id", "<|notimestamps|>"), ("prev_sot_token_id", "<|startofprev|>")):
        if token in tokens:
            setattr(gen, attr, tokens[token])
    if multilingual and "<|translate|>" in tokens and "<|transcribe|>" in tokens:
        sot, translate = ids["decoder_start_token_id"], tokens["<|translate|>"]
        gen.lang_to_id = {tok: i for tok, i in sorted(tokens.items(), key=lambda kv: kv[1]) if sot < i < translate}
        gen.task_to_id = {"transcribe": tokens["<|transcribe|>"], "translate": translate}
    if ct2_config.get("suppress_ids") is not None:
        gen.suppress_tokens = [int(i) for i in ct2_config["suppress_ids"]]
    if ct2_config.get("suppress_ids_begin") is not None:
        gen.begin_suppress_tokens = [int(i) for i in ct2_config["suppress_ids_begin"]]
    elif config.vocab_size >= 51864:  # OpenAI's default: no leading space or end of text first
        gen.begin_suppress_tokens = [220, ids["eos_token_id"]]
    if ct2_config.get("alignment_heads"):
        gen.alignment_heads = [[int(a), int(b)] for a, b in ct2_config["alignment_heads"]]
    gen.max_initial_timestamp_index = 50
    return gen


def _read_json(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read the {what} ({exc})") from None


def whisper_configs(config_kwargs: dict, config_json: Path | None, tokenizer_json: Path | None):
    """``(WhisperConfig, GenerationConfig)`` for converted weights.

    Args:
        config_kwargs: architecture sizes (from the tensors).
        config_json: faster-whisper's ``config.json`` (suppressed tokens, alignment heads), or None.
        tokenizer_json: ``tokenizer.json`` (special-token, language and task ids), or None.
    """
    from transformers import WhisperConfig

    try:
        tokens = {t["content"]: int(t["id"]) for t in _read_json(tokenizer_json, "tokenizer").get("added_tokens", [])}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ModelLoadError(
            f"{tokenizer_json}: not a Hugging Face tokenizer.json (its added_tokens are unreadable)"
        ) from None
    config = WhisperConfig(**config_kwargs, **_special_ids(tokens, config_kwargs["vocab_size"]))
    generation = _generation_config(config, tokens, _read_json(config_json, "faster-whisper config"))
    config.suppress_tokens, config.begin_suppress_tokens = generation.suppress_tokens, generation.begin_suppress_tokens
    return config, generation


def save_whisper_processor(out: Path, config, tokenizer_json: Path | None) -> None:
    """Write ``preprocessor_config.json`` and, given ``tokenizer.json``, the tokenizer files into ``out``."""
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(str(out))
    if tokenizer_json is not None:
        special = "<|endoftext|>"
        try:
            tokenizer = WhisperTokenizerFast(
                tokenizer_file=str(tokenizer_json),
                bos_token=special,
                eos_token=special,
                unk_token=special,
                pad_token=special,
                model_max_length=config.max_target_positions,
            )
        except Exception as exc:  # tokenizers raises its own Exception subclasses for a malformed file
            raise ModelLoadError(f"{tokenizer_json}: cannot build a Whisper tokenizer from it ({exc})") from None
        tokenizer.save_pretrained(str(out))

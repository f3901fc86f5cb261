"""A minimal CTranslate2 writer (the inverse of wavguard's converter) and a tiny random Whisper for the conversion tests."""

from __future__ import annotations

import struct
from pathlib import Path

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

__all__ = ["ct2_from_hf", "tiny_whisper", "write_ct2"]

_CODES = {torch.float32: 0, torch.int8: 1, torch.int16: 2, torch.int32: 3, torch.float16: 4, torch.bfloat16: 5}


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(
    path: Path, variables: dict[str, torch.Tensor], aliases: dict[str, str], version: int = 6, spec: str = "WhisperSpec"
) -> Path:
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, t in sorted(variables.items()):
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        out += [_string(name), struct.pack("<B", t.dim()), *(struct.pack("<I", d) for d in t.shape)]
        out += [struct.pack("<B", _CODES[t.dtype]), struct.pack("<I", len(data)), data]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    path.write_bytes(b"".join(out))
    return path


def _storage_dtype(name: str) -> torch.dtype:
    """fp16 matrices, bf16 convolutions, fp32 vectors: every float dtype the reader handles."""
    if "conv" in name and name.endswith("weight"):
        return torch.bfloat16
    return torch.float16 if name.endswith("weight") else torch.float32


def ct2_from_hf(model: WhisperForConditionalGeneration, tie: bool = True) -> tuple[dict, dict]:
    """CTranslate2 WhisperSpec variables of a transformers Whisper (as ctranslate2's converter lays them out)."""
    sd, cfg = model.state_dict(), model.config
    v: dict[str, torch.Tensor] = {}

    def linear(dst, src):
        v[f"{dst}/weight"], v[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst, src):
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst, src, projs):
        v[f"{dst}/weight"] = torch.cat([sd[f"{src}.{p}_proj.weight"] for p in projs])
        v[f"{dst}/bias"] = torch.cat([sd.get(f"{src}.{p}_proj.bias", torch.zeros(cfg.d_model)) for p in projs])

    for stack, n in (("encoder", cfg.encoder_layers), ("decoder", cfg.decoder_layers)):
        for i in range(n):
            dst, src = f"{stack}/layer_{i}", f"model.{stack}.layers.{i}"
            fused(f"{dst}/self_attention/linear_0", f"{src}.self_attn", "qkv")
            linear(f"{dst}/self_attention/linear_1", f"{src}.self_attn.out_proj")
            norm(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
            if stack == "decoder":
                linear(f"{dst}/attention/linear_0", f"{src}.encoder_attn.q_proj")
                fused(f"{dst}/attention/linear_1", f"{src}.encoder_attn", "kv")
                linear(f"{dst}/attention/linear_2", f"{src}.encoder_attn.out_proj")
                norm(f"{dst}/attention/layer_norm", f"{src}.encoder_attn_layer_norm")
            linear(f"{dst}/ffn/linear_0", f"{src}.fc1")
            linear(f"{dst}/ffn/linear_1", f"{src}.fc2")
            norm(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")
        norm(f"{stack}/layer_norm", f"model.{stack}.layer_norm")
    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    v["encoder/position_encodings/encodings"] = sd["model.encoder.embed_positions.weight"]
    v["decoder/position_encodings/encodings"] = sd["model.decoder.embed_positions.weight"]
    v["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    v = {k: t.to(_storage_dtype(k)) for k, t in v.items()}
    v["encoder/num_heads"] = torch.tensor(cfg.encoder_attention_heads, dtype=torch.int16)
    v["decoder/num_heads"] = torch.tensor(cfg.decoder_attention_heads, dtype=torch.int16)
    v["decoder/activation"] = torch.tensor(3, dtype=torch.int8)
    v["decoder/pre_norm"] = torch.tensor(1, dtype=torch.int8)
    for flag in ("alibi", "scale_embeddings", "start_from_zero_embedding"):
        v[f"decoder/{flag}"] = torch.tensor(0, dtype=torch.int8)
    v["decoder/alignment_layer"] = torch.tensor(-1, dtype=torch.int16)
    v["decoder/alignment_heads"] = torch.tensor(1, dtype=torch.int16)
    if tie:
        return v, {"decoder/projection/weight": "decoder/embeddings/weight"}
    v["decoder/projection/weight"] = sd["proj_out.weight"].to(torch.float16)
    return v, {}


def tiny_whisper(seed: int = 0, tie: bool = True) -> WhisperForConditionalGeneration:
    """A random Whisper whose weights survive the storage dtypes exactly."""
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=60,
        num_mel_bins=80,
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=4,
        encoder_ffn_dim=32,
        decoder_ffn_dim=24,
        max_source_positions=30,
        max_target_positions=12,
        tie_word_embeddings=tie,
        pad_token_id=58,
        bos_token_id=58,
        eos_token_id=58,
        decoder_start_token_id=59,
    )
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, p in model.state_dict().items():
            p.copy_(p.to(_hf_storage_dtype(name)).float())
    return model


def _hf_storage_dtype(name: str) -> torch.dtype:
    """The dtype ``ct2_from_hf`` stores a transformers tensor in (mirrors ``_storage_dtype``)."""
    if ".conv" in name and name.endswith("weight"):
        return torch.bfloat16
    if "layer_norm" in name or "embed_positions" in name or name.endswith("bias"):
        return torch.float32
    return torch.float16

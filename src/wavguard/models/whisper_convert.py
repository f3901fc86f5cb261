"""Convert a CTranslate2 (faster-whisper) Whisper ``model.bin`` into a Hugging Face checkpoint.

CTranslate2 binary version 6 (little-endian)::

    u32 version (= 6) | string spec_name | u32 spec_revision | u32 n_variables
    n_variables x (string name | u8 rank | rank x u32 dims | u8 dtype | u32 nbytes | nbytes of data)
    u32 n_aliases | n_aliases x (string alias | string variable_name)

A ``string`` is a ``u16`` length (counting a trailing NUL) followed by the bytes. dtype codes:
0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.

The output directory is what ``WhisperForConditionalGeneration.from_pretrained``,
:func:`wavguard.models.backbone.load_backbone` and :meth:`wavguard.Detector.from_backbone` read:
``config.json``, ``generation_config.json``, ``model.safetensors`` (encoder and decoder),
``preprocessor_config.json`` and, given a ``tokenizer.json``, the tokenizer files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import apply_umask
from ..errors import ConfigError, ModelLoadError
from .quiet import quiet_transformers
from .whisper_configs import save_whisper_processor, whisper_configs

__all__ = [
    "CONVERSION_RECORD",
    "CTranslate2Model",
    "read_ctranslate2",
    "whisper_from_ctranslate2",
    "convert_ctranslate2_whisper",
    "conversion_sources",
]

logger = logging.getLogger(__name__)

SUPPORTED_BINARY_VERSION = 6
#: Written into every converted directory: what it was converted from, and by which converter.
CONVERSION_RECORD = "wavguard_conversion.json"
CONVERTER_VERSION = 1
_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<i2")),  # reinterpreted as torch.bfloat16 below
}
_MAX_RANK = 8


@dataclass
class CTranslate2Model:
    """The contents of a CTranslate2 ``model.bin``.

    Attributes:
        spec_name: e.g. ``"WhisperSpec"``.
        spec_revision: the spec's revision number.
        variables: name -> tensor (CPU, the stored dtype; rank-0 tensors for scalars).
        aliases: alias name -> the variable name it points to.
    """

    spec_name: str
    spec_revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str] = field(default_factory=dict)


class _PartsReader:
    """Reads one byte stream from files concatenated in order (split ``model.bin.partN`` files)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths, self.label, self._index = list(paths), " + ".join(str(p) for p in paths), 0
        self._fh = open(self.paths[0], "rb")  # noqa: SIM115 - a stream over several files; close() closes it

    def _next_file(self) -> bool:
        if self._index + 1 >= len(self.paths):
            return False
        self._fh.close()
        self._index += 1
        self._fh = open(self.paths[self._index], "rb")  # noqa: SIM115 - see __init__
        return True

    def read(self, nbytes: int, what: str) -> bytes:
        chunks, left = [], nbytes
        while left:
            chunk = self._fh.read(left)
            chunks.append(chunk)
            left -= len(chunk)
            if not chunk and not self._next_file():
                raise ModelLoadError(
                    f"{self.label}: truncated CTranslate2 model: the file ends inside {what} ({nbytes - left} of "
                    f"{nbytes} bytes). Re-download it; if it is split into parts, pass every part, in order."
                )
        return b"".join(chunks)

    def at_end(self) -> bool:
        while not self._fh.read(1):
            if not self._next_file():
                return True
        return False

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.unpack("H", what)
        raw = self.read(length, what)
        try:
            if raw.endswith(b"\0"):
                return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            pass
        raise ModelLoadError(f"{self.label}: corrupt CTranslate2 model: {what} is not a NUL-terminated UTF-8 string")

    def close(self) -> None:
        self._fh.close()


def _as_paths(model_bin: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    paths = [Path(model_bin)] if isinstance(model_bin, (str, os.PathLike)) else [Path(p) for p in model_bin]
    if not paths:
        raise ModelLoadError("no CTranslate2 model.bin given")
    for p in paths:
        if not p.is_file():
            raise ModelLoadError(f"{p}: no such file; pass the CTranslate2 model.bin (or all its parts, in order)")
    return paths


def read_ctranslate2(model_bin: str | os.PathLike | Sequence[str | os.PathLike]) -> CTranslate2Model:
    """Read a CTranslate2 ``model.bin`` (binary version 6).

    Args:
        model_bin: the file, or the parts of a split file in order (read as one stream, no copy on disk).

    Raises:
        ModelLoadError: missing file, another binary version, a truncated or corrupt file.
    """
    reader = _PartsReader(_as_paths(model_bin))
    try:
        version = reader.unpack("I", "the header")
        if version != SUPPORTED_BINARY_VERSION:
            raise ModelLoadError(
                f"{reader.label}: CTranslate2 binary version {version} is not supported (wavguard reads version "
                f"{SUPPORTED_BINARY_VERSION}); is this a CTranslate2 model.bin, with its parts in order?"
            )
        spec_name = reader.string("the spec name")
        revision = reader.unpack("I", "the spec revision")
        variables: dict[str, torch.Tensor] = {}
        for index in range(reader.unpack("I", "the variable count")):
            name = reader.string(f"the name of variable {index}")
            rank = reader.unpack("B", name)
            if rank > _MAX_RANK:
                raise ModelLoadError(f"{reader.label}: corrupt CTranslate2 model: variable {name!r} has rank {rank}")
            dims = [reader.unpack("I", name) for _ in range(rank)]
            code = reader.unpack("B", name)
            if code not in _DTYPES:
                raise ModelLoadError(f"{reader.label}: variable {name!r} has unknown dtype code {code}")
            dtype_name, np_dtype = _DTYPES[code]
            nbytes = reader.unpack("I", name)
            expected = int(np.prod(dims, dtype=np.int64)) * np_dtype.itemsize
            if nbytes != expected:
                raise ModelLoadError(
                    f"{reader.label}: corrupt CTranslate2 model: variable {name!r} {dims} {dtype_name} "
                    f"holds {nbytes} bytes, expected {expected}"
                )
            array = np.frombuffer(bytearray(reader.read(nbytes, f"the data of {name!r}")), dtype=np_dtype).reshape(dims)
            tensor = torch.from_numpy(array)
            variables[name] = tensor.view(torch.bfloat16) if dtype_name == "bfloat16" else tensor
        aliases = {}
        for _ in range(reader.unpack("I", "the alias count")):
            alias = reader.string("an alias")
            aliases[alias] = reader.string(f"the target of alias {alias!r}")
        if not reader.at_end():
            raise ModelLoadError(
                f"{reader.label}: unexpected data after the last alias; pass only this model's parts, in order"
            )
    finally:
        reader.close()
    for alias, target in aliases.items():
        if target not in variables:
            raise ModelLoadError(f"{reader.label}: alias {alias!r} points to missing variable {target!r}")
    return CTranslate2Model(spec_name, revision, variables, aliases)


# -- CTranslate2 WhisperSpec -> transformers WhisperForConditionalGeneration ---------------------------
_LINEAR = {"weight": "weight", "bias": "bias"}
_NORM = {"gamma": "weight", "beta": "bias"}


class _Taker:
    """Hands out CTranslate2 variables by name and remembers which were used."""

    def __init__(self, ct2: CTranslate2Model, label: str):
        self.ct2, self.label, self.used = ct2, label, set()

    def __call__(self, name: str) -> torch.Tensor:
        try:
            tensor = self.ct2.variables[name]
        except KeyError:
            raise ModelLoadError(f"{self.label}: not a Whisper model: variable {name!r} is missing") from None
        self.used.add(name)
        return tensor

    def has(self, name: str) -> bool:
        return name in self.ct2.variables

    def scalar(self, name: str, default: int | None = None) -> int:
        if default is not None and not self.has(name):
            return default
        return int(self(name).item())

    def count_layers(self, stack: str) -> int:
        n = 0
        while self.has(f"{stack}/layer_{n}/ffn/linear_0/weight"):
            n += 1
        if n == 0:
            raise ModelLoadError(f"{self.label}: not a Whisper model: no {stack}/layer_0 found")
        return n


def _copy(take: _Taker, state: dict, src: str, dst: str, names: dict[str, str]) -> None:
    for ct2_name, hf_name in names.items():
        state[f"{dst}.{hf_name}"] = take(f"{src}/{ct2_name}")


def _split_attention(take: _Taker, state: dict, src: str, dst: str, d_model: int, fused: str, cross: bool) -> None:
    """q/k/v from CTranslate2's stacked projections; Whisper's k_proj has no bias (a bias on k shifts
    every score of a query by the same amount, which softmax ignores)."""
    names = ("k", "v") if cross else ("q", "k", "v")
    weight, bias = take(f"{src}/{fused}/weight"), take(f"{src}/{fused}/bias")
    if weight.shape[0] != len(names) * d_model:
        raise ModelLoadError(
            f"{take.label}: {src}/{fused}/weight has shape {tuple(weight.shape)}, expected {len(names) * d_model} rows"
        )
    for i, proj in enumerate(names):
        state[f"{dst}.{proj}_proj.weight"] = weight[i * d_model : (i + 1) * d_model]
        if proj != "k":
            state[f"{dst}.{proj}_proj.bias"] = bias[i * d_model : (i + 1) * d_model]
    if cross:
        _copy(take, state, f"{src}/linear_0", f"{dst}.q_proj", _LINEAR)
    _copy(take, state, f"{src}/{'linear_2' if cross else 'linear_1'}", f"{dst}.out_proj", _LINEAR)


def _layer(take: _Taker, state: dict, src: str, dst: str, d_model: int, decoder: bool) -> None:
    _split_attention(take, state, f"{src}/self_attention", f"{dst}.self_attn", d_model, "linear_0", cross=False)
    _copy(take, state, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm", _NORM)
    if decoder:
        _split_attention(take, state, f"{src}/attention", f"{dst}.encoder_attn", d_model, "linear_1", cross=True)
        _copy(take, state, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm", _NORM)
    _copy(take, state, f"{src}/ffn/linear_0", f"{dst}.fc1", _LINEAR)
    _copy(take, state, f"{src}/ffn/linear_1", f"{dst}.fc2", _LINEAR)
    _copy(take, state, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm", _NORM)


def _check_spec(take: _Taker) -> None:
    """Fail on CTranslate2 options that transformers' Whisper cannot express."""
    expected = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/alibi": 0}
    for name, value in expected.items():
        if take.has(name) and take.scalar(name) != value:
            raise ModelLoadError(
                f"{take.label}: {name} = {take.scalar(name)} (Whisper uses {value}); not a Whisper model"
            )
    # Read and ignored: alignment metadata and an unused flag.
    for name in ("decoder/alignment_heads", "decoder/alignment_layer", "decoder/start_from_zero_embedding"):
        if take.has(name):
            take(name)


def whisper_from_ctranslate2(ct2: CTranslate2Model, label: str = "model.bin") -> tuple[dict, dict[str, torch.Tensor]]:
    """Map a CTranslate2 ``WhisperSpec`` onto ``WhisperForConditionalGeneration``.

    Args:
        ct2: the model read by :func:`read_ctranslate2`.
        label: names the source in error messages.

    Returns:
        ``(config_kwargs, state_dict)``: architecture sizes inferred from the tensors, and tensors
        keyed by transformers' names (stored dtype; q/k/v are views of the stacked CTranslate2 tensors).

    Raises:
        ModelLoadError: not a Whisper spec, a missing tensor, or a tensor nobody maps (a layout change).
    """
    if ct2.spec_name != "WhisperSpec":
        raise ModelLoadError(
            f"{label}: CTranslate2 spec {ct2.spec_name!r} is not a Whisper model (expected 'WhisperSpec')"
        )
    if any(name.endswith("weight_scale") for name in ct2.variables):
        raise ModelLoadError(f"{label}: an int8-quantised CTranslate2 model; convert from a float16 or float32 one")
    take = _Taker(ct2, label)
    _check_spec(take)
    conv1 = take("encoder/conv1/weight")
    d_model, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    embed = take("decoder/embeddings/weight")
    n_enc, n_dec = take.count_layers("encoder"), take.count_layers("decoder")
    state: dict[str, torch.Tensor] = {}
    for i in (1, 2):
        _copy(take, state, f"encoder/conv{i}", f"model.encoder.conv{i}", _LINEAR)
    state["model.encoder.embed_positions.weight"] = take("encoder/position_encodings/encodings")
    _copy(take, state, "encoder/layer_norm", "model.encoder.layer_norm", _NORM)
    for i in range(n_enc):
        _layer(take, state, f"encoder/layer_{i}", f"model.encoder.layers.{i}", d_model, decoder=False)
    state["model.decoder.embed_tokens.weight"] = embed
    state["model.decoder.embed_positions.weight"] = take("decoder/position_encodings/encodings")
    _copy(take, state, "decoder/layer_norm", "model.decoder.layer_norm", _NORM)
    for i in range(n_dec):
        _layer(take, state, f"decoder/layer_{i}", f"model.decoder.layers.{i}", d_model, decoder=True)
    tied = ct2.aliases.get("decoder/projection/weight") == "decoder/embeddings/weight"
    if not tied:
        projection = take("decoder/projection/weight")
        tied = projection.data_ptr() == embed.data_ptr() or torch.equal(projection, embed)
        if not tied:
            state["proj_out.weight"] = projection
    config = dict(
        vocab_size=int(embed.shape[0]),
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_attention_heads=take.scalar("encoder/num_heads"),
        decoder_attention_heads=take.scalar("decoder/num_heads"),
        encoder_ffn_dim=int(ct2.variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(ct2.variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(state["model.encoder.embed_positions.weight"].shape[0]),
        max_target_positions=int(state["model.decoder.embed_positions.weight"].shape[0]),
        tie_word_embeddings=tied,
        scale_embedding=False,
        activation_function="gelu",
    )
    left = sorted(set(ct2.variables) - take.used)
    if left:
        raise ModelLoadError(f"{label}: CTranslate2 variables with no place in transformers' Whisper: {left[:8]}")
    return config, state


def _sibling(paths: list[Path], name: str, given) -> Path | None:
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file ({name})")
        return path
    candidate = paths[0].parent / name
    return candidate if candidate.is_file() else None


def convert_ctranslate2_whisper(
    model_bin_path_or_paths: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    config_json: str | os.PathLike | None = None,
    tokenizer_json: str | os.PathLike | None = None,
    dtype: torch.dtype | str = torch.float32,
    overwrite: bool = False,
) -> Path:
    """Write a Hugging Face Whisper checkpoint directory from a CTranslate2 (faster-whisper) model.

    Args:
        model_bin_path_or_paths: ``model.bin``, or the parts of a split one in order.
        out_dir: the directory to create. It is written in a temporary sibling and renamed into place.
        config_json: faster-whisper's ``config.json`` (suppressed tokens, alignment heads); default:
            the one next to the first model file, if any.
        tokenizer_json: the ``tokenizer.json`` (special-token ids, language tokens, tokenizer files);
            default: the one next to the first model file, if any. Without it no tokenizer is written
            and special-token ids follow OpenAI's vocabulary layout.
        dtype: floating-point dtype of the written weights, e.g. ``torch.float32`` (CPU training and
            inference) or ``"float16"`` (half the disk space).
        overwrite: replace an existing non-empty ``out_dir``.

    Returns:
        ``out_dir``, ready for ``WhisperForConditionalGeneration.from_pretrained``,
        :func:`wavguard.models.backbone.load_backbone` and :meth:`wavguard.Detector.from_backbone`.

    Raises:
        ModelLoadError: unreadable or non-Whisper model; ConfigError: ``out_dir`` exists (without ``overwrite``).
    """
    paths = _as_paths(model_bin_path_or_paths)
    dtype = _float_dtype(dtype)
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise ConfigError(
            f"{out_dir}: already exists and is not empty; choose another directory or pass overwrite=True (--overwrite)"
        )
    config_path = _sibling(paths, "config.json", config_json)
    tokenizer_path = _sibling(paths, "tokenizer.json", tokenizer_json)
    label = " + ".join(str(p) for p in paths)
    config_kwargs, state = whisper_from_ctranslate2(read_ctranslate2(paths), label)
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.mkdir()  # honours the umask, unlike mkdtemp's 0700
    try:
        _write_checkpoint(tmp, config_kwargs, state, config_path, tokenizer_path)
        (tmp / CONVERSION_RECORD).write_text(json.dumps(_record(paths, dtype), indent=2), encoding="utf-8")
        apply_umask(tmp)  # safetensors writes 0600 files: others could not load the backbone
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted %s -> %s", label, out_dir)
    return out_dir


def _float_dtype(dtype: torch.dtype | str) -> torch.dtype:
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ConfigError(f"dtype {dtype!r} is not a floating-point torch dtype; use float32, float16 or bfloat16")
    return resolved


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; an existing ``dst`` is moved aside first and deleted after."""
    old = None
    if dst.exists():
        old = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.old"
        os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        if old is not None:
            os.replace(old, dst)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def conversion_sources(paths: Sequence[Path]) -> list[dict]:
    """Path, size and modification time of each source file: a cache is current while these match."""
    return [
        {"path": str(Path(p).resolve()), "bytes": Path(p).stat().st_size, "mtime_ns": Path(p).stat().st_mtime_ns}
        for p in paths
    ]


def _record(paths: list[Path], dtype: torch.dtype) -> dict:
    dtype_name = str(dtype).removeprefix("torch.")
    return {
        "format": "ctranslate2",
        "converter_version": CONVERTER_VERSION,
        "dtype": dtype_name,
        "sources": conversion_sources(paths),
    }


def _write_checkpoint(
    out: Path, config_kwargs: dict, state: dict, config_path: Path | None, tokenizer_path: Path | None
) -> None:
    """config.json, generation_config.json, model.safetensors, preprocessor and tokenizer files."""
    from transformers import WhisperForConditionalGeneration

    config, generation = whisper_configs(config_kwargs, config_path, tokenizer_path)
    with quiet_transformers():
        with torch.device("meta"):
            model = WhisperForConditionalGeneration(config)
        if config.tie_word_embeddings:
            state = {**state, "proj_out.weight": state["model.decoder.embed_tokens.weight"]}
        result = model.load_state_dict(state, strict=False, assign=True)
        if result.missing_keys or result.unexpected_keys:
            raise ModelLoadError(
                f"converted tensors do not fit WhisperForConditionalGeneration: missing {result.missing_keys[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )
        if config.tie_word_embeddings:
            model.tie_weights()
        model.generation_config = generation
        model.save_pretrained(str(out), safe_serialization=True)
        save_whisper_processor(out, config, tokenizer_path)

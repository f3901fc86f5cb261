"""DetectorModel: backbone -> learned layer weighting -> CNN head -> 2 logits (REAL, FAKE).

Inputs are padded waveform batches with their true lengths. Rows of equal length go through the
backbone together, unpadded, so padding never leaks into a backbone's normalisation; the head then
masks the padded frames exactly. With ``config.aasist`` the same windows also go through AASIST
(a raw-waveform branch, each row at its own length too), and the head's linear layer sees the
CNN's pooled embedding and AASIST's 160-d embedding side by side: one network, trained end to
end (training may give AASIST its own version of each window: ``TrainConfig.aasist_augment``).
Shapes: B = batch, S = samples, L = layers + 1, F = frames, D = hidden size, E = 160.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import FREEZE_MODES, DetectorConfig
from ..errors import ConfigError
from .aasist import Aasist
from .aasist_branch import AasistBranch
from .backbone import Backbone
from .head import CNNHead, WeightedLayerSum
from .lora import has_lora

__all__ = ["DetectorModel"]


class DetectorModel(nn.Module):
    """The trainable network of a transformer detector.

    Args:
        backbone: a loaded :class:`~wavguard.models.backbone.Backbone`.
        config: the detector's config (head sizes, freeze mode, ``aasist``).
        aasist: the AASIST network, when ``config.aasist`` asks for the fused detector.
        aasist_is_reference: ``aasist`` holds the weights ``config.aasist["weights"]`` names, unchanged.
    """

    def __init__(
        self,
        backbone: Backbone,
        config: DetectorConfig,
        aasist: Aasist | None = None,
        *,
        aasist_is_reference: bool = False,
    ):
        super().__init__()
        if (aasist is None) != (config.aasist is None):
            raise ConfigError("the AASIST network and config.aasist go together: pass both or neither")
        self.backbone = backbone
        self.aasist = (
            None if aasist is None else AasistBranch(aasist, config.aasist["train"], is_reference=aasist_is_reference)
        )
        self.layer_sum = WeightedLayerSum(backbone.num_hidden_states, layer_norm=config.layer_norm)
        self.head = CNNHead(
            backbone.hidden_size,
            channels=config.head_channels,
            kernel_size=config.head_kernel_size,
            dropout=config.head_dropout,
            pooling=config.head_pooling,
            activation=config.head_activation,
            normalize_embedding=config.head_normalize_embedding,
            extra_dim=0 if self.aasist is None else self.aasist.embedding_dim,
        )
        self.freeze = "all"
        # a saved LoRA detector's adapters are attached after construction (models.lora)
        self.set_trainable("all" if config.freeze == "lora" else config.freeze)

    def set_trainable(self, mode: str, aasist: str | None = None) -> None:
        """Choose which weights train; the one owner of that rule. The head and the layer weights
        always train. ``aasist`` (``"frozen"``, ``"graph"`` or ``"full"``; ``None`` leaves it) decides for
        the AASIST branch of a fused detector. ``mode`` (one of :data:`~wavguard.config.FREEZE_MODES`)
        decides for the backbone:

        * ``"all"``: the backbone is frozen: no gradients through it, and it never runs dropout.
        * ``"feature_encoder"``: the backbone's convolutional feature encoder is frozen, its
          transformer layers train (full fine-tuning as wav2vec2 papers do it).
        * ``"none"``: every backbone weight trains.
        * ``"lora"``: only the LoRA adapters inside the backbone train (apply them first with
          :func:`~wavguard.models.lora.apply_lora`); gradients flow through the frozen base weights.
        """
        if mode not in FREEZE_MODES:
            raise ConfigError(f"freeze must be one of {FREEZE_MODES}, got {mode!r}")
        if mode == "lora":
            if not has_lora(self):
                raise ConfigError("freeze='lora' needs LoRA adapters on the backbone; apply them with apply_lora")
            for name, param in self.backbone.model.named_parameters():
                param.requires_grad_("lora_" in name)
        else:
            self.backbone.set_freeze(mode)
        self.freeze = mode
        if aasist is not None:
            if self.aasist is None:
                raise ConfigError("this detector has no AASIST branch (config.aasist is null)")
            self.aasist.set_trainable(aasist)

    @property
    def min_samples(self) -> int:
        """Shortest window both branches accept (AASIST's 2,315 samples when fused)."""
        return max(self.backbone.min_samples, 0 if self.aasist is None else self.aasist.min_samples)

    def train(self, mode: bool = True) -> DetectorModel:
        super().train(mode)
        if self.freeze == "all":
            self.backbone.eval()  # a frozen backbone never runs dropout
        return self

    def hidden_states(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone hidden states of a padded batch.

        Args:
            waveforms: (B, S), zero-padded after each row's length.
            lengths: (B,) valid samples per row; ``None`` means all S.

        Returns:
            hidden states (L, B, F, D), zero past each row's frames, and the frame mask (B, F).
        """
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long)
        lengths = lengths.to("cpu", torch.long)
        groups: dict[int, list[int]] = {}
        for row, length in enumerate(lengths.tolist()):
            groups.setdefault(int(length), []).append(row)
        outputs: list[tuple[list[int], torch.Tensor]] = []
        # a frozen backbone builds no graph, unless the input wants its gradient (adversarial attacks)
        with torch.set_grad_enabled(torch.is_grad_enabled() and (self.freeze != "all" or waveforms.requires_grad)):
            for length, rows in groups.items():
                outputs.append((rows, self.backbone(waveforms[rows, :length])))
        max_frames = max(h.shape[2] for _, h in outputs)
        first = outputs[0][1]
        states = first.new_zeros(first.shape[0], batch, max_frames, first.shape[3])
        mask = torch.zeros(batch, max_frames, dtype=torch.bool, device=first.device)
        for rows, h in outputs:
            index = torch.tensor(rows, device=first.device)
            states[:, index, : h.shape[2]] = h
            mask[index, : h.shape[2]] = True
        return states, mask

    def classify(self, states: torch.Tensor, mask: torch.Tensor, aasist: torch.Tensor | None = None) -> torch.Tensor:
        """Head on precomputed hidden states (as cached for frozen-backbone training), and the
        AASIST embeddings of a fused detector.

        Shapes: states (L, B, F, D), mask (B, F), aasist (B, E) or None -> logits (B, 2).
        """
        return self.head(self.layer_sum(states), mask, aasist)

    def forward(
        self,
        waveforms: torch.Tensor,
        lengths: torch.Tensor | None = None,
        aasist_waveforms: torch.Tensor | None = None,
        aasist_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, 2), columns (REAL, FAKE), for a padded batch of waveforms (B, S).

        ``aasist_waveforms`` (B, S') with ``aasist_lengths`` (B,) give the AASIST branch its own
        input (training with ``aasist_augment``); by default it sees ``waveforms``.
        """
        states, mask = self.hidden_states(waveforms, lengths)
        if self.aasist is None:
            if aasist_waveforms is not None:
                raise ConfigError("aasist_waveforms were given, but this detector has no AASIST branch")
            return self.classify(states, mask)
        if aasist_waveforms is None:
            aasist_waveforms, aasist_lengths = waveforms, lengths
        return self.classify(states, mask, self.aasist(aasist_waveforms, aasist_lengths))

"""Training: frozen-feature, LoRA and full fine-tuning of detectors with ``accelerate``.

Needs the ``training`` extra (``pip install 'wavguard-detector[training]'``).

Example:
    >>> from wavguard.training import TrainConfig, train
    >>> cfg = TrainConfig.from_yaml("my_recipe.yaml", ["train_data=my_data/"])            # doctest: +SKIP
    >>> result = train(cfg)                                                                          # doctest: +SKIP
    >>> result.best_dir, result.best_eer                                                             # doctest: +SKIP
"""

from __future__ import annotations

from .config import MODES, TrainConfig
from .trainer import Trainer, TrainResult

__all__ = ["TrainConfig", "Trainer", "TrainResult", "train", "MODES"]


def train(
    config: TrainConfig, resume: bool = False, *, start_if_missing: bool = False, progress: bool = True
) -> TrainResult:
    """Train as ``config`` says and return the result (the best detector is in ``output_dir/best``).

    Args:
        config: the run's settings.
        resume: continue from the newest intact checkpoint in ``config.output_dir`` (damaged newer
            ones are skipped with a warning); without one, refuse with a ``ConfigError``...
        start_if_missing: ...unless this is set: then start from scratch, with a warning.
        progress: draw tqdm bars on stderr (``wavguard train`` turns them off when stderr is not a terminal).
    """
    return Trainer(config, progress=progress).fit(resume=resume, start_if_missing=start_if_missing)

"""How audio becomes a score: one pipeline that every way of scoring drives.

* :mod:`.pipeline`: :class:`~.pipeline.ScoringPipeline`, the stages decode -> preprocess -> windows
  -> logits -> calibrate -> aggregate, and the batch driver behind ``predict``.
* :mod:`.predicts`: :class:`~.predicts.Predicts`, the ``predict`` front end of detectors and
  ensembles (one input or a list, ``on_error``).
* :mod:`.scorer`: :class:`~.scorer.Scorer`, a config and a backend driven by the pipeline (what a
  :class:`~wavguard.Detector` is).
* :mod:`.streaming`: :class:`~.streaming.StreamingScorer`, the same windows from audio that arrives
  in chunks.
* :mod:`.batching`: the length-aware window batcher and the decode prefetch thread.
* :mod:`.prediction`: :class:`~.prediction.Prediction` and :class:`~.prediction.Segment`, what scoring returns.
* :mod:`.datasets`: scores of input lists and data set rows, one bad row never stopping the run.
* :mod:`.archive`: a large list of files into one score file, in resumable shards split across
  ``accelerate launch`` processes (``wavguard predict --out``); :mod:`.score_table`: that file's
  columns and formats.
"""

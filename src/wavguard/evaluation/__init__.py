"""Measuring detectors: scores for data sets, metrics, calibration, reports, fusion, audits.

* :mod:`.scoring`: scores (and uncalibrated margins) for lists of inputs and data set rows,
  one bad row never stopping the run, optionally split across processes.
* :mod:`wavguard.metrics`: EER, ROC AUC, minDCF, actDCF, Cllr, bootstrap intervals (scores point towards FAKE).
* :mod:`.calibration`: Platt scaling, threshold selection, calibration error.
* :mod:`.evaluate`: :func:`~.evaluate.evaluate_detector`, every metric pooled and per group.
* :mod:`.results`: :class:`~.results.EvaluationResult`, and :func:`~.results.evaluate_scores` for
  scores already at hand.
* :mod:`.report`: metrics.json, plots and report.md.
* :mod:`.scorefile`: one line per utterance (id, P(fake), LLR, label, attack, channel), and a
  report from such a file without the model.
* :mod:`.ensemble`: score-level fusion of detectors and side-by-side comparison.
* :mod:`.audit`: the shortcut audit of a data set (trivial features that predict the label).
"""

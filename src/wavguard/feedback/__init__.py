"""Continuous learning from users' verdicts.

* :mod:`.store`: the service's SQLite prediction log and feedback store.
* :mod:`.data`: feedback rows as a training data set.
* :mod:`.update`: fine-tune on feedback (+ replay), compare old and new on a hold-out, keep the
  better detector.
* :mod:`.report`: the old-vs-new comparison report.
"""

"""The service's endpoints, one module per concern, each an ``APIRouter`` (the UI: a mount).

=====================  ====================================================================
module                 endpoints
=====================  ====================================================================
``predict``            ``POST /v1/predict``, ``POST /v1/predict/batch``
``feedback``           ``POST /v1/feedback``
``model``              ``GET /healthz``, ``GET /readyz``, ``GET /v1/model``, ``GET /metrics``
``stream``             ``WS /v1/stream``
``ui``                 the browser page at ``/ui`` (``wavguard.demo``), when gradio is installed
=====================  ====================================================================

Routes take what they share (the detector, settings, log, batcher, metrics) from
:mod:`wavguard.serve.dependencies`, never from the app factory.
"""

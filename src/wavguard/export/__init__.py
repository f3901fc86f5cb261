"""Export: a detector as an ONNX graph, and its int8 quantisation with a check that refuses a
graph int8 broke.

* :mod:`.onnx`: :func:`~.onnx.export_onnx`.
* :mod:`.quantize`: int8 quantisation (dynamic or static) and its EER/score check.
"""

from .onnx import export_onnx

__all__ = ["export_onnx"]

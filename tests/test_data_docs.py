"""Every runnable example in docs/data.md runs, in order, in a fresh folder."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def test_data_md_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    runnable = [b for b in blocks if not b.startswith("# requires the corpus")]
    assert len(runnable) >= 9
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("data_md_examples")  # a real module, as in a script: workers pickle its functions by name
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in runnable:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert len(namespace["clean"]) == len(namespace["messy"]) - 2
    assert list(namespace["weights"]) == [1.5, 0.75]

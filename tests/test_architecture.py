"""The package's shape: no import cycles, no imports hidden in functions to dodge one, small files."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "wavguard"

#: Function-local imports of wavguard modules that stay local on purpose, with why. Anything else
#: inside a function would hide an import cycle or load cost that belongs at the top of the file.
LAZY_IMPORTS_ALLOWED = {
    "wavguard.cli": "each subcommand loads only what it runs, so `wavguard --help` starts fast",
    "wavguard.audio.augment": "audiomentations and librosa (the data extra), needed only when augmenting",
    "wavguard.demo": "gradio (the demo extra), mounted only when installed",
    "wavguard.hf_model": "transformers' PreTrainedModel costs seconds to import; loaded when AutoModel loads a detector",
    "wavguard.hf_config": "imports transformers; registered only once transformers' Auto modules are imported",
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def test_the_import_graph_has_no_cycles():
    graph = grimp.build_graph("wavguard", exclude_type_checking_imports=True)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported == importer or not imported.startswith("wavguard"):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer,) + tuple(back[1:])))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_no_function_local_imports_of_wavguard_modules_except_the_allowed():
    found = []
    for name, path in _modules():
        if name.startswith("wavguard.cli"):
            continue
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                    targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
                    for t in targets:
                        if not any(t == a or t.startswith(a + ".") for a in LAZY_IMPORTS_ALLOWED):
                            found.append(f"{name}:{node.lineno} imports {t} inside {func.name}()")
    assert not found, "\n".join(found)


def test_every_module_imports_in_a_fresh_interpreter():
    names = [n for n, _ in _modules() if not n.endswith("__main__")]
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("name, path", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_file_is_over_500_lines(name, path):
    assert len(path.read_text().splitlines()) <= 500, f"{name} is over 500 lines: split it"

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
    "wavguard.integrations.hf_model": "transformers' PreTrainedModel costs seconds to import; loaded when AutoModel loads a detector",
    "wavguard.integrations.hf_config": "imports transformers; registered only once transformers' Auto modules are imported",
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


#: The layers, highest first: a module imports only from its own layer's siblings (where the layer is
#: not independent) and from layers below. docs/architecture.md draws the same picture.
LAYERS = [
    grimp.Layer("cli"),
    grimp.Layer("serve", "demo", "training", "evaluation", "feedback", "testing", independent=False),
    grimp.Layer("detector", "export", "integrations", independent=False),
    grimp.Layer("loading"),
    grimp.Layer("hub", "scoring", independent=True),
    grimp.Layer("models"),
    grimp.Layer("audio", "data", independent=False),
    grimp.Layer("config", "_limits", "layout", "errors", "metrics", "_io", "_version", independent=False),
]


def test_every_module_sits_in_a_layer():
    top = {
        p.stem if p.is_file() else p.name for p in SRC.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())
    }
    top -= {"__init__", "__main__"}
    named = {name for layer in LAYERS for name in layer.module_tails}
    assert top == named, f"not in a layer: {sorted(top - named)}; named but missing: {sorted(named - top)}"


def test_imports_go_down_the_layers_only():
    graph = grimp.build_graph("wavguard", exclude_type_checking_imports=False)
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"wavguard"})
    lines = []
    for dep in sorted(illegal, key=lambda d: (d.importer, d.imported)):
        route = next(iter(dep.routes))
        lines.append(
            f"{dep.importer} -> {dep.imported} (via {' -> '.join(route.heads)} ... {' -> '.join(route.tails)})"
        )
    assert not lines, "imports that climb the layers:\n" + "\n".join(lines)


def test_a_layers_contract_catches_an_upward_import():
    graph = grimp.build_graph("wavguard", exclude_type_checking_imports=False)
    upside_down = [grimp.Layer("config"), grimp.Layer("detector")]
    assert graph.find_illegal_dependencies_for_layers(layers=upside_down, containers={"wavguard"})


def test_at_most_ten_modules_at_the_top():
    modules = sorted(p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(modules) <= 10, f"{len(modules)} modules at the top of src/wavguard: {modules}; group them"


def test_the_import_graph_has_no_cycles():
    graph = grimp.build_graph("wavguard", exclude_type_checking_imports=False)  # type-only cycles count too
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


#: Private names one package still takes from another, to be made public where they are defined.
#: Only shrink this: a package that needs another's ``_name`` makes it public there first.
PRIVATE_IMPORTS_LEFT: dict[str, set[str]] = {}


def _subpackage(module: str) -> str:
    """``wavguard.hub.publish -> "hub"``; a top-level module is its own: ``wavguard.loading -> "loading"``."""
    return module.split(".")[1] if "." in module else module


def test_no_package_imports_another_packages_private_names():
    modules = {name for name, _ in _modules()}
    found: dict[str, set[str]] = {}
    for name, path in _modules():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.level or (node.module or "").startswith("wavguard")):
                continue
            if node.level:
                base = package.split(".")
                source = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                target = f"{source}.{alias.name}"
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and target not in modules and _subpackage(source) != _subpackage(name):
                    found.setdefault(name, set()).add(target)
    new = {name: sorted(t - PRIVATE_IMPORTS_LEFT.get(name, set())) for name, t in found.items()}
    new = {name: targets for name, targets in new.items() if targets}
    assert not new, f"make these public where they are defined: {new}"

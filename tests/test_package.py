"""The package's shape: one documented public API, and layers that import only downward.

Layers, lowest first (`mbe/__init__.py` says the same): the base modules (`paper`, `records`,
`paths`, `ranges`), `native`, `core`, `ops`, `conversion`, `data`, `studies`, `viz`. A module
may import from its own layer and the layers below it, never from one above; and no chain of
imports, however long, comes back to where it started.
"""
import ast
import importlib
import re
from pathlib import Path

import mbe

PACKAGE = Path(mbe.__file__).parent
LAYERS = ["base", "native", "core", "ops", "conversion", "data", "studies", "viz"]
BASE = {"paper", "records", "paths", "ranges"}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
            .removesuffix(".__init__"): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Every mbe module `name` imports, at any depth of its code (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mbe")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("mbe"):
                continue
            for alias in node.names:  # `from . import x` may name a module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in _MODULES
                          else target)
    return found


_MODULES = _modules()


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package itself: its __init__ gathers the public API from every layer
    top = parts[1]
    return LAYERS.index("base") if top in BASE else LAYERS.index(top)


def test_every_module_belongs_to_a_layer():
    for module in _MODULES:
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in BASE or parts[1] in LAYERS, \
            f"{module} is in no layer: add it to one (and to mbe/__init__.py's list)"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for module, path in _MODULES.items():
        own = _layer(module)
        if own is None:
            continue
        for target in _imports(module, path):
            theirs = _layer(target)
            if theirs is not None and theirs > own:
                upward.append(f"{module} ({LAYERS[own]}) imports {target} ({LAYERS[theirs]})")
    assert not upward, "\n".join(upward)


def test_there_is_no_import_cycle():
    graph = {m: {t for t in _imports(m, p) if t in _MODULES and t != m}
             for m, p in _MODULES.items() if m != "mbe"}
    graph = {m: {t for t in ts if t != "mbe"} for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_public_api_is_one_documented_list():
    block = mbe.__doc__.split("Public API")[1].split("\n\n", 2)[1]
    documented = {name for line in block.splitlines()
                  for name in re.split(r"\s{2,}", line.strip())[0].split(", ")}
    assert set(mbe.__all__) == documented
    for name in mbe.__all__:
        assert hasattr(mbe, name), name
    namespace: dict = {}
    exec("from mbe import *", namespace)
    assert set(mbe.__all__) <= set(namespace)


def test_subpackages_are_reachable_as_a_newcomer_would_guess():
    import mbe.conversion as conversion

    assert callable(mbe.convert) and conversion.convert is mbe.convert
    assert conversion.set_mode is mbe.set_mode and conversion.ConversionConfig is \
        mbe.ConversionConfig
    for name in ("core", "native", "ops", "conversion", "data", "studies", "viz", "paper",
                 "records"):
        assert importlib.import_module(f"mbe.{name}") is not None

"""The README's layer table is the contract: no module of wellread/ imports a module of a higher layer."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wellread"


def layer_table() -> dict[str, int]:
    """module name ("cache", "data", ...) -> its layer's row in the README's table, from the base up."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("| layer | modules |"):]
    rows = [line for line in section.splitlines()[2:] if line.startswith("|")]
    layers = {}
    for depth, row in enumerate(rows):
        for name in re.findall(r"`(\w+)(?:\.py|/)`", row.split("|")[2]):
            layers[name] = depth
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else "__init__"


def imported_modules(path: Path) -> set[str]:
    """The wellread modules a file imports, at its top or inside functions."""
    out = set()
    package = path.relative_to(PACKAGE).parts[:-1]  # () for wellread/x.py, ("data",) for wellread/data/x.py
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [target[0]] if target else [alias.name for alias in node.names]
            elif node.module and node.module.startswith("wellread."):
                names = [node.module.split(".")[1]]
            elif node.module == "wellread":
                names = [alias.name for alias in node.names]
            else:
                continue
            out.update(names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("wellread."))
    return out


def test_every_module_is_in_the_table():
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert modules == set(layer_table())


def test_no_module_imports_a_higher_layer():
    layers = layer_table()
    upward = []
    for path in PACKAGE.rglob("*.py"):
        me = module_name(path)
        if me == "__init__":
            continue
        for other in imported_modules(path) - {me}:
            if other in layers and layers[other] > layers[me]:
                upward.append(f"{path.relative_to(ROOT)} ({me}, layer {layers[me]}) imports {other} (layer {layers[other]})")
    assert not upward, "\n".join(upward)


def test_the_table_can_catch_an_upward_import(tmp_path):
    assert "methods" in imported_modules(PACKAGE / "widgets.py")  # the parser sees what a module imports
    layers = layer_table()
    assert layers["cache"] < layers["train"] < layers["recipes"] < layers["findings"] < layers["cli"]

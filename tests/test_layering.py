"""The library's folders are its layers (package/sekoia_ic/*/__init__.py say what each owns): a module imports only
its own subpackage, the top-level modules and the subpackages its layer may import, never a higher layer. Read
from the source with ast, every import included (those inside functions too)."""
import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "package" / "sekoia_ic"
# The top-level modules: what every layer may import (they import only each other and the standard library).
BASE = {"__init__", "version", "constants", "regions", "redaction"}
# Each subpackage and the subpackages it may import, lowest first.
MAY_IMPORT = {
    "ic": set(),
    "stix": set(),
    "splunk": {"ic"},
    "feed": {"ic", "stix", "splunk"},
    "enrich": {"stix", "splunk"},
    "endpoints": {"ic", "stix", "splunk", "enrich"},
    "actions": {"ic", "stix", "splunk", "enrich"},
}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path, known):
    """(line, module) for every sekoia_ic module that the file at path imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sekoia_ic":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sekoia_ic":
                continue
            submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known]
            yield from ((node.lineno, m) for m in submodules or [target])


def layer(module):
    """The subpackage a module belongs to, or None for the top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else None


def test_every_module_has_a_layer():
    for name, path in modules().items():
        parts = name.split(".")
        if path.parent == PACKAGE:
            assert path.stem in BASE, f"{path}: a new module goes into the subpackage of its layer"
        else:
            assert parts[1] in MAY_IMPORT and len(parts) <= 3, f"{path}: not in a known layer ({', '.join(MAY_IMPORT)})"


def test_no_module_imports_a_higher_layer():
    known = modules()
    wrong = []
    for name, path in known.items():
        own = layer(name)
        allowed = {None, own} | MAY_IMPORT.get(own, set())
        for line, target in imported_modules(path, known):
            assert target in known, f"{path}:{line}: imports {target}, which does not exist"
            if layer(target) not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {own or 'top-level'} imports {target}")
    assert not wrong, "lower layers import higher ones:\n" + "\n".join(wrong)


def test_each_subpackage_says_what_it_owns_and_may_import():
    for package, may_import in MAY_IMPORT.items():
        init = PACKAGE / package / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        docstring = ast.get_docstring(tree) or ""
        # Only the docstring: importing a subpackage loads nothing (sekoialookup never loads requests).
        assert len(tree.body) == 1 and docstring, f"{init}: a docstring and nothing else"
        said = re.search(r"^May import: (.*?)(?:\n\n|\Z)", docstring, re.M | re.S)
        assert said, f"{init}: no 'May import:' paragraph"
        named = set(re.findall(r"\b(" + "|".join(MAY_IMPORT) + r")\b", said.group(1)))
        assert named == may_import, f"{init}: says it may import {sorted(named)}, the test allows {sorted(may_import)}"

"""Package attributes imported when first used (PEP 562), so importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(package: str, modules: Mapping[str, str], name: str) -> Any:
    """Attribute ``name`` of ``package``, imported from module ``modules[name]``.

    For a package's ``__getattr__``: the value is then kept in the package,
    so the import happens once.
    """
    module = modules.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    setattr(sys.modules[package], name, value)
    return value

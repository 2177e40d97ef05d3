"""scripts/make_demo_models.py loaded as a module, for tests that need its data splits."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_demo_models.py"


def demo_build_module():
    spec = importlib.util.spec_from_file_location("make_demo_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module

"""The interactive-session notebook: its magics match the generator and its code only uses
public functions of the package."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from loglake_tools.build import glue_job_definition, session_magics

pytestmark = pytest.mark.unit

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "etl_interactive_session.ipynb"
#: Modules the notebook may import besides ours (the Glue runtime and the stdlib).
ALLOWED_FOREIGN = {"awsglue.context", "pyspark.context", "datetime"}


def _code_cells() -> list[str]:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_magic_cells_are_what_upload_prints() -> None:
    files = [
        Path("loglake_core-0.1.0-py3-none-any.whl"),
        Path("loglake_glue_etl-0.1.0-py3-none-any.whl"),
        Path("entrypoint.py"),
    ]
    definition = glue_job_definition(
        bucket="YOUR-BUCKET", prefix="lake", version="0.1.0", files=files
    )
    cells = _code_cells()
    assert "\n\n".join(c.rstrip("\n") for c in cells[:2]) == session_magics(definition)
    assert cells[0].startswith("%glue_version 6.0\n")
    assert cells[1].startswith("%%configure\n")


def test_code_cells_import_and_call_only_public_functions() -> None:
    imported: dict[str, object] = {}
    python_cells = [c for c in _code_cells() if not c.startswith("%")]
    assert python_cells
    for cell in python_cells:
        tree = ast.parse(cell)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module is not None
                if node.module in ALLOWED_FOREIGN:
                    continue
                assert node.module.startswith(("loglake_core", "loglake_glue_etl")), node.module
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert not alias.name.startswith("_"), alias.name
                    assert callable(getattr(module, alias.name)), alias.name
                    imported[alias.asname or alias.name] = getattr(module, alias.name)
            elif isinstance(node, ast.Import):
                raise AssertionError(f"use `from … import …` in the notebook: {ast.unparse(node)}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not node.attr.startswith("_"), ast.unparse(node)
    from loglake_glue_etl import transforms

    assert {"select_dates", "annotate_rows", "clean_events", "page_metrics_daily"} <= set(imported)
    assert imported["page_metrics_daily"] is transforms.page_metrics_daily

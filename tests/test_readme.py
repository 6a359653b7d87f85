"""The README's Python snippets run as written (the gradio_client one against a running app)."""

from __future__ import annotations

import os
import re

from .conftest import ROOT


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_library_snippets_run():
    blocks = [b for b in snippets() if "gradio_client" not in b]
    assert len(blocks) >= 2
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            scope: dict = {}
            exec(compile(block, "README.md", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert scope  # the last block defined its names


def test_client_snippet_runs_against_the_app(app_url):
    (block,) = [b for b in snippets() if "gradio_client" in b]
    block = block.replace('"http://localhost:7860/"', repr(app_url)).replace('"face.jpg"', '"assets/astronaut.png"')
    block = block.replace('"photo.jpg"', '"assets/generated_face_vae.png"')
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        scope: dict = {}
        exec(compile(block, "README.md", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert "swapped" in scope["info"] and scope["grid"].endswith(".png")

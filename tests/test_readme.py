"""The README's Python snippets run as written (the gradio_client one against a running app)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_library_snippets_run():
    blocks = [b for b in snippets() if "gradio_client" not in b]
    assert len(blocks) >= 2
    cwd = os.getcwd()
    os.chdir(ROOT)
    scopes = []
    try:
        for block in blocks:
            scope: dict = {}
            exec(compile(block, "README.md", "exec"), scope)
            scopes.append(scope)
    finally:
        os.chdir(cwd)
    # what the snippets promise: a swapped image the size of the target, a code map, a reconstruction
    swap = next(s for s in scopes if "result" in s)
    assert swap["result"].image.shape[2] == 3 and swap["result"].source_codes.shape == (16, 16)
    vq = next(s for s in scopes if "x_rec" in s)
    assert tuple(vq["x_rec"].shape) == (1, 3, vq["s"], vq["s"]) and vq["codes"].shape == (1, 16, 16)
    family = next(s for s in scopes if "rebuilt" in s)
    assert family["faces"].shape == family["rebuilt"].shape == (4, 3, 64, 64) and family["z"].shape == (4, 128)
    assert family["fake"] is None and family["loss"].item() > 0


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


def test_shell_commands_run_as_written(tmp_path):
    """The README's ```sh block, line by line, in a fresh bash whose only set-up is the README's own
    `source .venv/bin/activate` (the test's interpreter stands in for .venv when it lives elsewhere)."""
    (block,) = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0] == "source .venv/bin/activate" and all(line.startswith("codeswap ") for line in lines[1:])
    outputs = {Path(w) for line in lines for w in line.split() if w.startswith("/tmp/codeswap-")}
    for path in outputs:
        path.unlink(missing_ok=True)
    venv_bin = Path(sys.executable).parent  # the environment the tests run in: where `codeswap` is installed
    script = "set -e\n" + (f"export PATH={venv_bin}:$PATH\n" if not (ROOT / ".venv/bin/activate").exists() else "") + block
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # a fresh shell: nothing of ours on the PATH
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote /tmp/codeswap-swapped.png" in r.stdout and "Watermark: FOUND" in r.stdout
    assert all(p.exists() for p in outputs)
    for path in outputs:
        path.unlink()

"""Shared fixtures: tiny seeded model configs, the shared data folder, the shipped weights."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from gradio_client import Client

from benchmarks.common import PHOTOS, ROOT, SHARED_DATA, VIDEOS, free_port  # noqa: F401 (one definition for tests and benchmarks)

WEIGHTS = ROOT / "weights"

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session", autouse=True)
def _codeswap_home(tmp_path_factory):
    """C2PA's development key (made on first use) goes to a temporary CODESWAP_HOME, never ~/.cache."""
    os.environ["CODESWAP_HOME"] = str(tmp_path_factory.mktemp("codeswap-home"))
    for name in ("CODESWAP_C2PA_CERT", "CODESWAP_C2PA_KEY"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def swapper():
    """The photo swap on the shipped weights, loaded once for the whole session (it keeps no state
    between calls)."""
    from pipelines import FaceSwapPipeline

    return FaceSwapPipeline.from_pretrained()


@pytest.fixture(scope="session")
def sampler(swapper):
    """Every shipped family, loaded once; shares the swap's face detector."""
    from pipelines import SamplingPipeline

    p = SamplingPipeline.from_pretrained(detector=swapper.detector)
    missing = [k for k, m in p.models.items() if m is None]
    assert not missing, f"weights missing for {missing}"
    return p


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def photo(name: str) -> Path:
    path = PHOTOS / name
    if not path.is_file():
        pytest.fail(f"test photo missing: {path} (tests need ../shared/data beside the clone)")
    return path


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """run(main, *args): a command line's main(argv) in this process, as the shell would run it (exit
    code, stdout, stderr), without a new interpreter importing torch and loading the weights again.
    An uncaught exception fails the test, as a traceback would. tests/test_readme.py runs the real
    commands in a shell."""

    def run(main, *args) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def app_temp(tmp_path_factory) -> Path:
    """The app's GRADIO_TEMP_DIR: Gradio's upload cache, and our outputs in codeswap-outputs/."""
    return tmp_path_factory.mktemp("gradio")


def app_files(temp: Path) -> list[Path]:
    return sorted(f for f in temp.rglob("*") if f.is_file())


@pytest.fixture(scope="session")
def app_log(tmp_path_factory) -> Path:
    """The running app's console output (stdout and stderr)."""
    return tmp_path_factory.mktemp("log") / "app.log"


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, app_temp, app_log):
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(app_temp)}  # fmt: skip
    log = app_log
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited with {proc.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail(f"app did not start in 180 s:\n{log.read_text()}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def client(app_url):
    return Client(app_url, verbose=False)

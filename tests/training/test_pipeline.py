"""prepare -> train (every family, resume, DDP with 2 processes) -> evaluate, on tiny real data."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import shutil
import subprocess
import sys

import pytest
import torch

from models import REGISTRY, VQGAN

from ..conftest import PHOTOS, ROOT

TINY = {
    "ae": ["image_size=32", "channels=8,16", "latent_dim=8"],
    "vae": ["image_size=32", "channels=8,16", "latent_dim=8"],
    "gan": ["image_size=32", "latent_dim=8", "generator_width=8", "discriminator_width=8"],
    "vqgan": ["image_size=32", "channels=8,16", "res_blocks=1", "codebook_size=32", "code_dim=4", "disc_start=3", "disc_channels=8"],
    "transformer": ["vocab_size=32", "block_size=64", "n_layer=1", "n_head=2", "n_embd=32"],
}


IN_PROCESS = {"training.prepare", "training.train", "training.evaluate"}


def run(*args, timeout=600, check=True):
    """`python -m MODULE ARGS`: our own command lines run in this process through their main(argv)
    (no new interpreter importing torch); anything else (torchrun) as a real subprocess."""
    args = [str(a) for a in args]
    if args[0] == "-m" and args[1] in IN_PROCESS:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = importlib.import_module(args[1]).main(args[2:])
            except SystemExit as e:  # as the interpreter does: a message is printed to stderr, exit status 1
                code = e.code if isinstance(e.code, int) else 1
                if not isinstance(e.code, int | None):
                    print(e.code, file=err)
        r = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    else:
        r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0 or not check, f"{args}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    src = tmp_path_factory.mktemp("photos")
    names = ["man_portrait_flags_720p.jpg", "woman_redhair_wide.jpg", "man_grayscale_portrait.jpg", "two_boys_portrait.png",
             "group_six_people_table.jpg", "no_face_landscape.jpg", "woman_head_tilted_roll.png", "man_sports_jersey.jpg"]  # fmt: skip
    for n in names:
        shutil.copy(PHOTOS / n, src / n)
    (src / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path_factory.mktemp("data")
    run("-m", "training.prepare", "--src", src, "-o", out, "--size", "32", "--held-out", "0.4", "--workers", "1")
    index = json.loads((out / "index.json").read_text())
    c = index["counts"]
    assert c["read"] == 9 and c["unreadable"] == 1 and c["no_face"] == 1 and c["kept"] == 7
    assert index["held_out"] >= 1 and index["train"] >= 1
    again = run("-m", "training.prepare", "--src", src, "-o", out, "--size", "32", "--held-out", "0.4")
    assert "1 already done, 0 to prepare" in again.stdout
    return out


def train(family, data, out, steps, *extra):
    return run("-m", "training.train", family, "--data", data, "-o", out, "--steps", steps, "--batch-size", "4",
               "--log-every", "1", "--sample-every", "2", *sum((["--set", s] for s in TINY[family]), []), *extra)  # fmt: skip


@pytest.fixture(scope="module")
def vqgan_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("vqgan")
    train("vqgan", data, out, 4)  # past disc_start: the adversarial term and D steps run
    return out


@pytest.mark.parametrize("family", ["ae", "vae", "gan"])
def test_train_resume_and_export(family, data, tmp_path):
    out = tmp_path / family
    train(family, data, out, 2)
    train(family, data, out, 4, "--resume")
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3, 4]
    assert (out / "samples" / "step-000004.png").is_file()
    model = REGISTRY[family].from_pretrained(out / "final")
    assert model.config.image_size == 32


def test_vqgan_adversarial_phase_and_transformer_on_its_codes(data, vqgan_run, tmp_path):
    logs = [json.loads(line) for line in (vqgan_run / "log.jsonl").read_text().splitlines()]
    assert "gan_weight" in logs[-1] and "loss_d" in logs[-1]
    out = tmp_path / "transformer"
    train("transformer", data, out, 3, "--vqgan", vqgan_run / "final")
    assert (out / "codes.pt").is_file()
    r = run(
        "-m",
        "training.evaluate",
        "transformer",
        "--weights",
        out / "final",
        "--data",
        data,
        "--vqgan",
        vqgan_run / "final",
        "--samples",
        "0",
        "--json",
    )
    metrics = json.loads(r.stdout)
    assert metrics["bits_per_token"] > 0 and metrics["n_images"] >= 1


def test_decoder_fine_tune_from_a_trained_vqgan_keeps_its_codes(data, vqgan_run, tmp_path):
    """--init starts from a trained model; decoder_only trains the decoder alone (here with the
    adversarial term from step 0): the encoder, codebooks and their usage statistics stay as they
    were, so the codes of every face, and a prior trained on them, keep their meaning."""
    out = tmp_path / "finetune"
    run("-m", "training.train", "vqgan", "--data", data, "-o", out, "--steps", "3", "--batch-size", "4", "--lr", "1e-3",
        "--init", vqgan_run / "final", "--set", "decoder_only=true", "--set", "disc_start=0")  # fmt: skip
    before, after = VQGAN.from_pretrained(vqgan_run / "final"), VQGAN.from_pretrained(out / "final")
    assert after.config.decoder_only and after.config.channels == before.config.channels
    a, b = before.state_dict(), after.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("decoder."))
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert "loss_d" in logs[0]
    bad = run("-m", "training.train", "vqgan", "--data", data, "-o", tmp_path / "bad", "--set", "decoder_only=yes", check=False)
    assert bad.returncode != 0 and "decoder_only=yes" in bad.stderr


def test_ema_exports_the_moving_average_and_resumes_it(data, tmp_path):
    """--ema DECAY: the exported model is the moving average of the weights, not the last step's, and
    a resumed run continues the same average; counters (the quantizer's steps) are not averaged."""
    out = tmp_path / "ema"
    train("vqgan", data, out, 3, "--ema", "0.5", "--lr", "1e-2")
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert int(state["ema"]["n_averaged"]) == 3
    exported = VQGAN.from_pretrained(out / "final").state_dict()
    average = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    assert all(torch.equal(exported[k], average[k]) for k in exported)
    assert not all(torch.equal(exported[k], state["model"][k]) for k in exported)  # not the last weights
    assert int(exported["quantizer.steps"]) == int(state["model"]["quantizer.steps"]) == 3
    train("vqgan", data, out, 4, "--ema", "0.5", "--lr", "1e-2", "--resume")
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    assert int(resumed["ema"]["n_averaged"]) == 4
    # one more step of the average: 0.5 * (the average at step 3) + 0.5 * (the weights after step 4)
    last = resumed["model"]
    k = next(k for k in average if average[k].is_floating_point() and not torch.equal(average[k], last[k]))
    assert torch.allclose(resumed["ema"]["module." + k], 0.5 * average[k] + 0.5 * last[k], atol=1e-6)


def test_evaluate_vqgan_json(data, vqgan_run):
    r = run("-m", "training.evaluate", "vqgan", "--weights", vqgan_run / "final", "--data", data, "--json")
    metrics = json.loads(r.stdout)
    assert {"psnr", "ssim", "codebook_usage", "perplexity", "n_images"} <= set(metrics)
    assert 0 < metrics["codebook_usage"] <= 1 and metrics["psnr"] > 0


def test_existing_run_needs_resume(data, vqgan_run):
    r = run("-m", "training.train", "vqgan", "--data", data, "-o", vqgan_run, "--steps", "5", check=False)
    assert r.returncode != 0 and "--resume" in r.stderr


def test_torchrun_two_processes(data, tmp_path):
    out = tmp_path / "ddp"
    torchrun = ("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517")
    run(*torchrun, "-m", "training.train", "ae", "--data", data, "-o", out,
        "--steps", "3", "--batch-size", "2", "--log-every", "1", *sum((["--set", s] for s in TINY["ae"]), []))  # fmt: skip
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3]
    assert REGISTRY["ae"].from_pretrained(out / "final").config.latent_dim == 8


def test_residual_vqgan_and_a_prior_that_follows_it(data, tmp_path):
    """A VQGAN with 2 codes per cell; the transformer trained on it takes its vocabulary, sequence
    length and depth from it; evaluation reports both stages' codebook health."""
    vq = tmp_path / "rq"
    run("-m", "training.train", "vqgan", "--data", data, "-o", vq, "--steps", 2, "--batch-size", "4",
        *sum((["--set", s] for s in [*TINY["vqgan"], "quantizer_depth=2"]), []))  # fmt: skip
    prior = tmp_path / "prior"
    run("-m", "training.train", "transformer", "--data", data, "-o", prior, "--steps", 2, "--batch-size", "4", "--vqgan", vq / "final",
        "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=32")  # fmt: skip
    config = json.loads((prior / "final" / "config.json").read_text())
    assert (config["vocab_size"], config["block_size"], config["depth"]) == (32, 64, 2)
    metrics = json.loads(run("-m", "training.evaluate", "vqgan", "--weights", vq / "final", "--data", data, "--json").stdout)
    assert 0 < metrics["codebook_usage_stage_2"] <= 1 and metrics["codebook_usage"] <= metrics["codebook_usage_stage_1"]

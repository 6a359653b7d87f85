"""One training entry point for every model family (a plain explicit loop, after nanoGPT).

    python -m training.train {ae,vae,gan,vqgan,transformer} --data DATA_DIR -o RUN_DIR [--resume]
    torchrun --nproc_per_node 2 -m training.train ...      (DistributedDataParallel, gloo on CPU)

RUN_DIR gets: log.jsonl (scalars), samples/step-NNNNNN.png (reconstructions and/or samples),
checkpoint.pt (model, optimizers, step, RNG; loaded with weights_only=True), and final/
(config.json + model.safetensors via save_pretrained, what weights/<name>/ ships).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, fields
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchvision.utils import save_image
from tqdm import tqdm

from models import REGISTRY, VQGAN, FaceModel, sample_images
from models.tensors import to_model_range

from .data import load_faces, random_flip

# Validation faces come from the full-resolution subsets only: the 89x109 images' faces (about 50 px)
# are upsampled at 128x128 and would reward blur.
HELD_OUT_EXCLUDE = ("celeba_align_89x109/",)


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to min_ratio * base_lr at `total` steps."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def parse_overrides(pairs: list[str], config_class) -> dict:
    """['codebook_size=512', 'channels=32,128'] -> typed dict for the config dataclass."""
    types = {f.name: f.type for f in fields(config_class)}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"error: --set {key}: not a field of {config_class.__name__} ({', '.join(types)})")
        t = str(types[key])
        if "bool" in t:
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"error: --set {key}={value}: expected true or false")
            out[key] = value.lower() == "true"
        elif "tuple" in t:
            out[key] = tuple(int(v) for v in value.split(","))
        elif "int" in t:
            out[key] = int(value)
        elif "float" in t:
            out[key] = float(value)
        else:
            out[key] = value
    return out


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers (saved weights must not carry them)."""
    while hasattr(module, "module") or hasattr(module, "_orig_mod"):
        module = getattr(module, "module", None) or module._orig_mod
    return module


class Objective(nn.Module):
    """model.training_loss as a module's forward, so that DistributedDataParallel, which synchronizes
    the gradients of what runs through its forward, can wrap any family's objective."""

    def __init__(self, model: FaceModel):
        super().__init__()
        self.model = model

    def forward(self, batch, step, critic, generator):
        return self.model.training_loss(batch, step, critic, generator)


class Trainer:
    """One family's model, its critic (a discriminator, for the adversarial families) and their
    optimizers; runs one optimization step at a time. Uses only the FaceModel surface."""

    def __init__(self, args, rank: int, world: int, vqgan: VQGAN | None = None):
        self.args, self.rank, self.world = args, rank, world
        cls = REGISTRY[args.family]
        # A model of codes takes its vocabulary, sequence and codes per cell from the VQGAN it models.
        matched = (
            {"vocab_size": vqgan.config.codebook_size, "block_size": vqgan.config.grid_size**2, "depth": vqgan.config.quantizer_depth}
            if cls.trains_on == "codes"
            else {}
        )
        # --init starts from a trained model: its config (then the overrides) and its weights.
        start = cls.from_pretrained(args.init) if args.init else None
        base = asdict(start.config) if start else matched
        config = cls.config_class(**(base | parse_overrides(args.set, cls.config_class)))
        torch.manual_seed(args.seed)
        self.model = cls(config)
        if start:
            self.model.load_state_dict(start.state_dict())
        self.critic = self.model.make_critic()
        betas = cls.adam_betas
        self.opt = torch.optim.AdamW(self.model.trainable_parameters(), lr=args.lr, betas=betas, weight_decay=0.0)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=args.lr, betas=betas) if self.critic else None
        self.step = 0
        self.objective = Objective(self.model)
        separate_critic = self.critic is not None and not any(m is self.critic for m in self.model.modules())
        if world > 1:
            self.objective = DistributedDataParallel(self.objective, find_unused_parameters=self.critic is not None)
        self.net_d = DistributedDataParallel(self.critic) if (world > 1 and separate_critic) else self.critic
        # --ema: an exponential moving average of the weights (and buffers), updated after every step;
        # it is what evaluation, sample grids and the export see. Averaging smooths the last steps' noise.
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None

    @property
    def averaged(self) -> FaceModel:
        """The weights to evaluate and export: the moving average with --ema, else the model itself."""
        return self.ema.module if self.ema is not None else self.model

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.args.bf16 else nullcontext()

    def set_lr(self) -> float:
        lr = lr_at(self.step, self.args.lr, self.args.warmup, self.args.steps)
        for opt in (self.opt, self.opt_d):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        return lr

    def train_step(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
        """x: (B, 3, S, S) images in [-1, 1], or (B, L) codes. One step of the model's objective, then
        (adversarial families) one step of the critic on real x against the model's fakes."""
        self.model.train()
        lr = self.set_lr()
        with self.autocast():
            loss, logs, fake = self.objective(x, self.step, self.net_d, gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        if self.critic is not None and fake is not None and self.model.critic_active(self.step):
            with self.autocast():
                loss_d = self.model.critic_loss(self.net_d(x), self.net_d(fake.detach()))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            logs["loss_d"] = loss_d.item()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
            for average, live in zip(self.ema.module.buffers(), self.model.buffers(), strict=True):
                if not average.is_floating_point():  # counters (a quantizer's steps) are copied, not averaged
                    average.copy_(live)
        self.step += 1
        logs["lr"] = lr
        return logs

    @torch.no_grad()
    def evaluate(self, held: torch.Tensor) -> dict[str, float]:
        """Mean loss terms on a fixed held-out batch (no augmentation, eval mode)."""
        model = self.averaged.eval()
        _, logs, _ = model.training_loss(held, 0, self.critic, torch.Generator().manual_seed(0))
        return {f"val_{k}": v for k, v in logs.items()}

    def state(self) -> dict:
        return {
            "family": self.model.family,
            "step": self.step,
            "config": json.dumps(asdict(self.model.config)),
            "model": self.model.state_dict(),
            "extra": self.critic.state_dict() if self.critic else None,
            "opt": self.opt.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "rng": torch.get_rng_state(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if self.critic is not None and state.get("extra") is not None:  # (a GAN's critic is in "model" too)
            self.critic.load_state_dict(state["extra"])
        self.opt.load_state_dict(state["opt"])
        if self.opt_d:
            self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = state["step"]
        torch.set_rng_state(state["rng"])


def write_grid(trainer: Trainer, held: torch.Tensor, path: Path, seed: int, vqgan: VQGAN | None) -> None:
    """Reconstructions (top: originals, bottom: model) and/or samples, 8 per row."""
    model = trainer.averaged.eval()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        if model.reconstructs:
            rows += [held[:8], model.reconstruct(held[:8]).clamp(-1, 1)]
        if model.samples:
            rows.append(sample_images(model, 8, gen, decoder=vqgan, top_k=100))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(rows), path, nrow=8, normalize=True, value_range=(-1, 1))


def precompute_codes(vqgan: VQGAN, faces: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(N, S, S, 3) uint8 faces -> (2N, h*w) codes of the faces and of their mirror images."""
    out = []
    for i in tqdm(range(0, len(faces), batch), desc="codes", mininterval=5):
        x = to_model_range(faces[i : i + batch])
        for view in (x, x.flip(3)):
            out.append(vqgan.encode_to_indices(view).flatten(1))
    return torch.cat(out)


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(trainer: Trainer, out: Path, faces: torch.Tensor) -> None:
    """RUN_DIR/final: save_pretrained of the unwrapped model, written to a temp folder then swapped in."""
    model = trainer.averaged
    model.finish_training(to_model_range(faces[:4096]))
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    (tmp / "README.md").unlink(missing_ok=True)  # the real model card is written by hand in weights/
    if out.exists():
        for f in out.iterdir():
            f.unlink()
        out.rmdir()
    os.replace(tmp, out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Train one CodeSwap model family.")
    p.add_argument("family", choices=sorted(REGISTRY))
    p.add_argument("--data", required=True, type=Path, help="folder written by training.prepare")
    p.add_argument("-o", "--out", required=True, type=Path, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--init", type=Path, help="start from this trained model's folder (config and weights; --set still applies)")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="export a moving average of the weights (e.g. 0.999; 0: off)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for forward passes")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config field override")
    p.add_argument("--vqgan", type=Path, default=Path("weights/vqgan"), help="VQGAN whose codes the transformer models")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--sample-every", type=int, default=1000)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (with a checkpoint) after this long")
    p.add_argument("--exclude", action="append", default=[], metavar="PREFIX", help="skip training images named PREFIX...")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (tests)")
    args = p.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    main_process = rank == 0

    try:
        train = load_faces(args.data, "train", tuple(args.exclude))
        held_faces = load_faces(args.data, "held_out", HELD_OUT_EXCLUDE)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        train = train[: args.limit]
    held = to_model_range(held_faces[:64])
    on_codes = REGISTRY[args.family].trains_on == "codes"
    vqgan = VQGAN.from_pretrained(args.vqgan) if on_codes else None
    trainer = Trainer(args, rank, world, vqgan)
    if on_codes:
        cache = args.out / "codes.pt"
        if cache.exists():
            codes = torch.load(cache, weights_only=True)
        else:
            codes = precompute_codes(vqgan, train)
            if main_process:
                args.out.mkdir(parents=True, exist_ok=True)
                atomic_save(codes, cache)
        held_codes = precompute_codes(vqgan, held_faces[:256])[::2]
        data, held = codes, held_codes
    else:
        data = train

    ckpt = args.out / "checkpoint.pt"
    if args.resume:
        if not ckpt.exists():
            print(f"error: --resume: {ckpt} not found", file=sys.stderr)
            return 2
        trainer.load_state(torch.load(ckpt, weights_only=True))
    elif ckpt.exists():
        print(f"error: {ckpt} exists; pass --resume or use a new run folder", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if main_process:
        run_args = {k: str(v) for k, v in vars(args).items()} | {"n_train": f"{len(train):,}"}
        (args.out / "args.json").write_text(json.dumps(run_args, indent=2))

    # Each rank draws its own batches: a per-rank generator, advanced from the resumed step.
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank + trainer.step)
    log_path = args.out / "log.jsonl"  # one JSON object per logged step; keys vary by phase
    start = last_ckpt = time.time()
    bar = tqdm(total=args.steps, initial=trainer.step, disable=not main_process, mininterval=5, desc=args.family)
    while trainer.step < args.steps:
        idx = torch.randint(len(data), (args.batch_size,), generator=gen)
        if on_codes:
            batch = data[idx]
        else:
            batch = random_flip(to_model_range(data[idx]), gen)
        logs = trainer.train_step(batch, gen)
        bar.update(1)
        step = trainer.step
        if main_process and (step % args.log_every == 0 or step == args.steps):
            logs.update(trainer.evaluate(held) if step % (args.log_every * 10) == 0 else {})
            row = {"step": step, "seconds": round(time.time() - start, 1), **{k: round(v, 5) for k, v in logs.items()}}
            with open(log_path, "a") as log_file:
                log_file.write(json.dumps(row) + "\n")
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(logs.items())[:4]})
        if main_process and (step % args.sample_every == 0 or step == args.steps):
            write_grid(trainer, held, args.out / "samples" / f"step-{step:06d}.png", args.seed, vqgan)
        out_of_time = args.max_minutes and time.time() - start > args.max_minutes * 60
        if main_process and (time.time() - last_ckpt > args.checkpoint_minutes * 60 or step == args.steps or out_of_time):
            atomic_save(trainer.state(), ckpt)
            export(trainer, args.out / "final", train)
            last_ckpt = time.time()
        if out_of_time:
            break
    bar.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

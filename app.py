"""CodeSwap web app: builds the Gradio UI, wires its events to the pipelines, launches.

    python app.py          # http://0.0.0.0:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT respected)

Models load once at start-up from weights/ (or the folder / Hub repo id in CODESWAP_WEIGHTS;
huggingface_hub honours HF_HUB_OFFLINE). Nothing per-user is kept in module globals.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np

from models import WeightsError
from pipelines import __version__
from pipelines.blend import REGIONS
from pipelines.credentials import Made
from pipelines.images import ImageError
from pipelines.provenance import check, save_output_image
from pipelines.sampling import SamplingPipeline, grid
from pipelines.swap import FaceSwapPipeline, NoFaceError, SwapOptions
from pipelines.video import Cancelled, VideoError, VideoLimits, VideoSwapPipeline
from pipelines.visualize import code_map_image, mask_image, upscale, usage_chart, zoom

try:  # ZeroGPU on Hugging Face Spaces; a no-op everywhere else
    import spaces

    gpu = spaces.GPU
except ImportError:
    gpu = lambda fn: fn  # noqa: E731

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
OUTPUT_DIR = Path(os.environ.get("GRADIO_TEMP_DIR", Path(tempfile.gettempdir()) / "gradio")) / "codeswap-outputs"
OUTPUT_MAX_AGE = 3600  # seconds an output file is kept for download
MAX_UPLOAD = "30mb"
CONCURRENCY = int(os.environ.get("CODESWAP_CONCURRENCY", "2"))
log = logging.getLogger("codeswap")

# Errors a person can act on: shown as they are. Anything else is logged and reported generically.
USER_ERRORS = (ImageError, NoFaceError, VideoError, WeightsError, ValueError)


def friendly_errors(fn):
    """Turn exceptions into gr.Error with a message a person understands; never a stack trace to the
    person. A user's mistake is logged as one line; a real fault with its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as e:  # need() and option checks: the person left something out
            log.info("%s: %s", fn.__name__, e.message)
            raise gr.Error(e.message, print_exception=False) from None
        except USER_ERRORS as e:  # the person can act on it: one log line, no traceback
            log.info("%s: %s", fn.__name__, e)
            raise gr.Error(str(e), print_exception=False) from None
        except Exception:  # a real fault: its traceback goes to the log, once
            log.exception("unexpected failure in %s", fn.__name__)
            message = "Something went wrong on our side while processing this request. Please try again."
            raise gr.Error(message, print_exception=False) from None

    return wrapper


class PhotoUpload(gr.Image):
    """gr.Image that hands the uploaded file to CodeSwap's loader as it is.

    gr.Image decodes uploads itself first: a file that is not an image or a decompression bomb then
    fails inside Gradio with a generic error, and a 16-bit PNG is clipped to 8 bits (white). Passing
    the path on lets pipelines.images.load_image decode it and name any problem. The browser side
    is gr.Image's (is_template); pasted or webcam images arrive as data URLs and take gr.Image's path.
    """

    is_template = True

    @classmethod
    def get_component_class_id(cls) -> str:
        return gr.Image.get_component_class_id()  # the browser loads gr.Image's front end for it

    def __init__(self, **kwargs):
        super().__init__(type="filepath", image_mode=None, **kwargs)

    def get_config(self, cls=None):
        return super().get_config(gr.Image)  # the browser's properties are gr.Image's (read from its signature)

    def preprocess(self, payload):
        if payload is not None and payload.path is not None and not (payload.url or "").startswith("data:"):
            return payload.path
        return super().preprocess(payload)


def new_output(suffix: str) -> Path:
    """A fresh output path; outputs older than OUTPUT_MAX_AGE are removed on the way."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        if now - old.stat().st_mtime > OUTPUT_MAX_AGE:
            old.unlink(missing_ok=True)
    return OUTPUT_DIR / f"codeswap-{uuid.uuid4().hex[:12]}{suffix}"


def save_png(image: np.ndarray, made: Made) -> str:
    """An output file for Gradio to serve: labels, C2PA manifest, written atomically."""
    path = new_output(".png")
    save_output_image(image, path, made)
    return str(path)


def need(value, what: str):
    if value is None or (isinstance(value, str) and not value):
        raise gr.Error(f"Please provide {what}.", print_exception=False)
    return value


EXPRESSION_CHOICES = [
    ("The source's", "source"),
    ("The target's mouth (it keeps talking)", "mouth"),
    ("The target's eyes and mouth", "target"),
]


def swap_options(regions, target_face, strength, softness, color, harmonize=False, detail=1.0, expression="source") -> SwapOptions:
    if not regions:
        raise gr.Error("Choose at least one face region to swap.", print_exception=False)
    return SwapOptions(
        regions=tuple(regions), target_face=str(target_face), strength=float(strength), softness=float(softness),
        color_correction=bool(color), harmonize=bool(harmonize), detail=float(detail),
        expression=str(expression or "source"),
    )  # fmt: skip


def model_cards() -> str:
    parts = []
    for name in ("vqgan", "transformer", "ae", "vae", "gan"):
        card = ROOT / "weights" / name / "README.md"
        if card.is_file():
            text = card.read_text(encoding="utf-8").replace("![samples](samples.png)", f"(grid: weights/{name}/samples.png)")
            if text.startswith("---"):  # the Hub's YAML metadata: for machines, not for this page
                text = text.split("---", 2)[2].lstrip()
            parts.append(f"<details><summary><b>{name}</b></summary>\n\n{text}\n\n</details>")
    return "\n\n".join(parts) or "No model cards found."


ABOUT = """
## How CodeSwap works

1. **Detect and align.** MTCNN (facenet-pytorch) finds each face and 5 landmarks; the face is warped
   to a canonical 5-point template at the VQGAN's resolution. The landmarks also give the head's
   roll and yaw: a source that looks the other way is mirrored, and a three-quarter or profile
   source has its hidden half rebuilt from the visible one (with a warning that the poses differ).
2. **Encode and quantize.** The VQGAN encoder E maps the crop to a 16x16 grid of vectors; each is
   replaced by its nearest codebook entry: s_ij = argmin_k ||E(x)_ij - z_k||. With residual
   quantization, a second codebook then quantizes what the first left, so each cell carries 2 codes.
3. **Exchange codes.** Z_swap = the source's codes inside the chosen face regions, the target's elsewhere;
   the regions sit on each face's own landmarks. "Expression" can leave the target's mouth (or eyes and
   mouth) in place, so a video's actors keep talking. Optionally the code transformer resamples the
   codes along the seam.
4. **Decode, add detail, blend.** The decoder G turns Z_swap back into a face; at the size the face has
   in the photo, the fine detail the codes cannot hold is added back from real pixels (the source's
   inside its codes, the target's elsewhere). The face is colour-matched to the target (LAB
   statistics) and blended into the photo with a feathered mask. Pixels outside the swapped region
   are left exactly as they were.

## The models and their losses

- **Regularized autoencoder**: cross-entropy reconstruction + lambda * sum of squared weights (no biases).
  Sampling uses a Gaussian fitted to training latents.
- **VAE**: reconstruction + KL(q(z|x) || N(0, I)) in closed form; samples decode z ~ N(0, I).
- **GAN (DCGAN)**: L_D = -E[log D(x)] - E[log(1 - D(G(z)))], non-saturating L_G = -E[log D(G(z))].
- **VQGAN**: L1 + L2 reconstruction + codebook term ||sg[E(x)] - z_q||^2 + beta * commitment
  ||E(x) - sg[z_q]||^2 (straight-through gradients), + an adaptive-weight patch-GAN term.
- **Code transformer**: a GPT over the raster-ordered code grid, trained with -log p(s).

## Data and terms

All models were trained here, on 2 CPU cores, on about 20,000 CelebA face images. CelebA is available
for non-commercial research and educational purposes only, and so are these weights.

## Outputs stay marked as synthetic

Every image and video CodeSwap writes carries three marks (the EU AI Act, Art. 50, asks this of
systems that make deepfakes):

1. **Labels** in the file's metadata (a PNG text chunk, an MP4 comment).
2. **Content Credentials** (C2PA): a signed manifest saying the file is AI-generated
   (`trainedAlgorithmicMedia`), made by which CodeSwap version with which models. It is signed with
   the deployer's key (`CODESWAP_C2PA_CERT` / `CODESWAP_C2PA_KEY`), or else with a development key
   made on first use, which readers rightly report as untrusted.
3. **An invisible watermark** in every face CodeSwap makes (swapped faces, every video frame,
   samples): a faint pattern tied to the face's landmarks, so it survives a re-save as JPEG, resizing,
   cropping and a video re-encode, which strip the first two.

The **Check a file** tab (and `python -m pipelines.provenance FILE`) reads all three. What they do not
do: metadata is lost on any re-save; a determined adversary who knows the scheme can remove or blur
away the watermark, and a face that is too small or too damaged to be detected cannot be read. A
missing mark proves nothing; a found one says the face was made by CodeSwap.

## Responsible use

Every image and video CodeSwap produces is marked as synthetic (above). Do not use it to
deceive, harass, impersonate or sexualise anyone, and do not swap the face of a person who has not
agreed to it. Swapped faces carry real detail at the photo's resolution and can look convincing at a
glance: treat every output as synthetic media, never as evidence of anything.
"""


def build_app(swapper: FaceSwapPipeline, video: VideoSwapPipeline, sampler: SamplingPipeline) -> gr.Blocks:
    """The UI. Every handler closes over the pipelines loaded once at start-up."""
    vq = swapper.vqgan
    k, depth = vq.config.codebook_size, vq.config.quantizer_depth
    region_names = list(REGIONS)
    face_choices = ["all", "largest", "similar"] + [str(i) for i in range(10)]
    families = [
        f
        for f in ("ae", "vae", "gan", "vqgan")
        if sampler.models[f] is not None and (f != "vqgan" or sampler.models["transformer"] is not None)
    ]
    stop_video: dict[str, threading.Event] = {}  # session -> the Stop signal of its running video swap

    @gpu
    @friendly_errors
    def swap_photo(
        source, target, regions, target_face, strength, softness, color, harmonize, reference=None, detail=1.0, expression="source",
        progress=gr.Progress(),
    ):  # fmt: skip
        need(source, "a source photo (the face to use)")
        need(target, "a target photo (the photo to change)")
        progress(0.1, desc="Detecting and swapping faces")
        r = swapper(source, target, swap_options(regions, target_face, strength, softness, color, harmonize, detail, expression),
                    reference=reference)  # fmt: skip
        gallery = [
            (upscale(r.source_crop), "source face, aligned"),
            (upscale(r.target_crops[0]), "target face, aligned"),
            (code_map_image(r.source_codes, k, 16, depth), "source codes"),
            (code_map_image(r.target_codes[0], k, 16, depth), "target codes"),
            (code_map_image(r.swap_codes[0], k, 16, depth), "swapped codes"),
            (mask_image(r.token_mask.astype(np.float32), 16), "code mask (white: source codes)"),
            (upscale(r.decoded[0]), "decoded swap, before blending"),
            (mask_image(r.mask, max(1, 256 // r.mask.shape[0])), "blend mask"),
        ]
        stages = " · ".join(f"{name} {sec * 1000:.0f} ms" for name, sec in r.timings.items())
        warnings = "".join(f" Warning: {w}." for w in r.warnings)
        return (
            save_png(r.image, Made("face swap", ("vqgan",), len(r.target_faces))),
            gallery,
            f"{len(r.target_faces)} face(s) swapped.{warnings} {stages}",
        )

    @gpu
    @friendly_errors
    def swap_video(
        source, clip, regions, target_face, strength, softness, color, detect_every, reference=None, detail=1.0,
        expression="mouth", request: gr.Request = None, progress=gr.Progress(),
    ):  # fmt: skip
        need(source, "a source photo (the face to use)")
        need(clip, "a video")
        out = new_output(".mp4")
        session = request.session_hash if request is not None else None
        stop = threading.Event()
        stop_video[session] = stop
        try:
            opts = swap_options(regions, target_face, strength, softness, color, detail=detail, expression=expression)
            r = video(
                source, clip, out, opts,
                detect_every=int(detect_every), progress=lambda done, total: progress((done, total), desc="Swapping frames", unit="frames"),
                reference=reference, cancel=stop,
            )  # fmt: skip
        except Cancelled:  # the person asked for it: a message, not an error
            return None, "Stopped: the video swap was cancelled and no output was written."
        finally:
            if stop_video.get(session) is stop:
                del stop_video[session]
        audio = "kept" if r.has_audio else "none in the input"
        note = f" Note: {r.note}." if r.note else ""
        return str(out), f"{r.frames} frames, {r.frames_with_faces} swapped, {r.frames / r.seconds:.1f} frames/s; audio {audio}.{note}"

    def cancel_video(request: gr.Request = None) -> str:
        """The Stop button: the running video swap of this session stops at its next frame."""
        stop = stop_video.get(request.session_hash) if request is not None else None
        if stop is None:
            return "Nothing to stop."
        stop.set()
        return "Stopping..."

    @gpu
    @friendly_errors
    def sample(family, n, seed, temperature, top_k, top_p, truncation):
        images = sampler.sample(
            family, int(n), int(seed), float(temperature), float(truncation) if truncation else None,
            int(top_k) if top_k else None, float(top_p) if top_p and top_p < 1 else None,
        )  # fmt: skip
        return save_png(zoom(grid(images, columns=min(8, int(n))), 2), Made(f"{int(n)} samples from the {family} model", (family,)))

    @gpu
    @friendly_errors
    def reconstruct(photo):
        need(photo, "a photo with a face")
        r = sampler.reconstruct(photo)
        return [(upscale(img), f"{name}, {img.shape[0]}x{img.shape[1]}") for name, img in r.items()]

    @gpu
    @friendly_errors
    def interpolate(photo_a, photo_b, family, steps, mode):
        need(photo_a, "the first photo")
        need(photo_b, "the second photo")
        frames = sampler.interpolate(photo_a, photo_b, family, int(steps), mode)
        return save_png(zoom(grid(frames, columns=len(frames)), 2), Made(f"an interpolation with the {family} model", (family,)))

    @gpu
    @friendly_errors
    def complete(photo, keep, n, seed, temperature):
        need(photo, "a photo with a face")
        r = sampler.complete(photo, keep, int(n), int(seed), float(temperature))
        kept = mask_image(r["kept"].astype(np.float32), 16)
        return [(upscale(r["input"]), "input"), (kept, "kept codes (white)")] + [
            (upscale(v), f"variation {i + 1}") for i, v in enumerate(r["variations"])
        ]

    @friendly_errors
    def check_file(file):
        need(file, "an image or a video")
        return check(file).summary()

    usage = vq.quantizer.usage.numpy()
    used = int((usage > 0.1 / k).sum())
    stage = " of the first stage" if depth > 1 else ""
    usage_text = f"{used} of {k} codes{stage} in regular use during training (running usage above a tenth of uniform)."

    with gr.Blocks(title="CodeSwap", delete_cache=(1800, OUTPUT_MAX_AGE)) as demo:
        gr.Markdown(
            f"# CodeSwap {__version__}\nFace swap by exchanging VQGAN codes, and the classic generative models on faces. "
            "Runs on 2 CPU cores. Every output is labelled synthetic."
        )
        with gr.Tab("Swap photos", id="swap"):
            with gr.Row():
                src = PhotoUpload(label="Source: the face to use (A)", sources=["upload", "webcam", "clipboard"], elem_id="swap-source")
                tgt = PhotoUpload(
                    label="Target: the photo to change (B)",
                    sources=["upload", "webcam", "clipboard"],
                    elem_id="swap-target",
                )
                out = gr.Image(
                    type="filepath",
                    label="Result",
                    format="png",
                    interactive=False,
                    elem_id="swap-result",
                    buttons=["download", "fullscreen"],
                )
            with gr.Accordion("Options", open=False):
                with gr.Row():
                    regions = gr.CheckboxGroup(region_names, value=["face"], label="Face regions to swap")
                    target_face = gr.Dropdown(face_choices, value="all", label="Target face (index 0 = most confident)")
                with gr.Row():
                    strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength")
                    softness = gr.Slider(0, 0.3, value=0.08, step=0.01, label="Edge softness")
                    color = gr.Checkbox(value=True, label="Colour correction")
                    detail = gr.Slider(0, 1, value=1.0, step=0.05, label="Source detail (0 = pure code exchange)")
                    expression = gr.Radio(EXPRESSION_CHOICES, value="source", label="Expression")
                    harmonize = gr.Checkbox(
                        value=False, label="Harmonize seam with the transformer", interactive=swapper.transformer is not None
                    )
                ref = PhotoUpload(label="Reference: the person to replace (for target face 'similar')", height=160)
            go = gr.Button("Swap", variant="primary", elem_id="swap-button")
            info = gr.Markdown()
            steps = gr.Gallery(label="Intermediates", columns=8, height="auto")
            go.click(
                swap_photo,
                [src, tgt, regions, target_face, strength, softness, color, harmonize, ref, detail, expression],
                [out, steps, info],
                api_name="swap_photo",
            )
            astronaut, generated = str(ASSETS / "astronaut.png"), str(ASSETS / "generated_face_vae.png")
            photo_inputs = [src, tgt, regions, target_face, strength, softness, color, harmonize]
            gr.Examples(
                [[astronaut, generated, ["face"], "all", 1.0, 0.08, True, False],
                 [generated, astronaut, ["eyes", "mouth"], "all", 1.0, 0.08, True, False]],
                photo_inputs, [out, steps, info], swap_photo, cache_examples=True, cache_mode="lazy",
            )  # fmt: skip

        with gr.Tab("Swap video", id="video"):
            with gr.Row():
                vsrc = PhotoUpload(label="Source: the face to use", sources=["upload", "webcam", "clipboard"], elem_id="video-source")
                vin = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                vout = gr.Video(label="Result (with the original audio)", interactive=False, elem_id="video-result", buttons=["download"])
            with gr.Accordion("Options", open=False):
                with gr.Row():
                    vregions = gr.CheckboxGroup(region_names, value=["face"], label="Face regions to swap")
                    vtarget = gr.Dropdown(face_choices, value="all", label="Faces to swap (N = the N-th person to appear)")
                    vdetect = gr.Slider(1, 5, value=3, step=1, label="Detect every k-th frame (track in between)")
                with gr.Row():
                    vstrength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength")
                    vsoft = gr.Slider(0, 0.3, value=0.08, step=0.01, label="Edge softness")
                    vcolor = gr.Checkbox(value=True, label="Colour correction")
                    vdetail = gr.Slider(0, 1, value=1.0, step=0.05, label="Source detail (0 = pure code exchange)")
                    vexpression = gr.Radio(EXPRESSION_CHOICES, value="mouth", label="Expression")
                vref = PhotoUpload(label="Reference: the person to replace (for 'similar')", height=160)
            with gr.Row():
                vgo = gr.Button("Swap video", variant="primary", elem_id="video-button", scale=4)
                vstop = gr.Button("Stop", variant="stop", elem_id="video-stop", scale=1)
            vinfo = gr.Markdown()
            vgo.click(
                swap_video,
                [vsrc, vin, vregions, vtarget, vstrength, vsoft, vcolor, vdetect, vref, vdetail, vexpression],
                [vout, vinfo],
                api_name="swap_video",
            )
            # not queued: with every worker busy swapping, a Stop must still get through at once
            vstop.click(cancel_video, None, vinfo, api_name="cancel_video", queue=False)

        with gr.Tab("Sample", id="sample"):
            with gr.Row():
                family = gr.Radio(families, value=families[-1] if families else None, label="Model family")
                n = gr.Slider(1, 32, value=16, step=1, label="How many")
                seed = gr.Number(value=0, precision=0, label="Seed")
            with gr.Row():
                temperature = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Temperature (ae, vae, vqgan)")
                top_k = gr.Slider(0, 512, value=100, step=1, label="Top-k (vqgan; 0 = off)")
                top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p (vqgan; 1 = off)")
                truncation = gr.Slider(0, 3, value=0, step=0.1, label="Truncation (gan; 0 = off)")
            sgo = gr.Button("Sample", variant="primary")
            sizes = ", ".join(f"{f} {sampler.size_of(f)}x{sampler.size_of(f)}" for f in families)
            sout = gr.Image(type="filepath", label=f"Samples (each family at its own resolution: {sizes})", format="png", interactive=False)
            sgo.click(sample, [family, n, seed, temperature, top_k, top_p, truncation], sout, api_name="sample")

        with gr.Tab("Explore", id="explore"):
            gr.Markdown("### Reconstruction by every model")
            with gr.Row():
                rin = PhotoUpload(label="A photo with a face")
                rout = gr.Gallery(label="input · ae · vae · vqgan", columns=4, height="auto")
            gr.Button("Reconstruct").click(reconstruct, rin, rout, api_name="reconstruct")
            gr.Markdown("### Interpolation between two faces")
            with gr.Row():
                ia = PhotoUpload(label="First face")
                ib = PhotoUpload(label="Second face")
                with gr.Column():
                    ifam = gr.Radio(["ae", "vae", "vqgan"], value="vae", label="Latent space")
                    isteps = gr.Slider(2, 16, value=8, step=1, label="Steps")
                    imode = gr.Radio(["lerp", "slerp"], value="slerp", label="Interpolation")
            iout = gr.Image(type="filepath", label="Interpolation", format="png", interactive=False)
            gr.Button("Interpolate").click(interpolate, [ia, ib, ifam, isteps, imode], iout, api_name="interpolate")
            gr.Markdown("### Transformer completion: keep part of a face's codes, sample the rest")
            with gr.Row():
                cin = PhotoUpload(label="A photo with a face")
                with gr.Column():
                    ckeep = gr.Dropdown(["top"] + region_names, value="top", label="Keep the top half, or resample this region")
                    cn = gr.Slider(1, 8, value=4, step=1, label="Variations")
                    cseed = gr.Number(value=0, precision=0, label="Seed")
                    ctemp = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Temperature")
            cout = gr.Gallery(label="Completions", columns=6, height="auto")
            gr.Button("Complete").click(complete, [cin, ckeep, cn, cseed, ctemp], cout, api_name="complete")
            gr.Markdown(f"### VQGAN codebook usage\n{usage_text}")
            gr.Image(usage_chart(usage), label="Codes sorted by running usage", interactive=False, format="png")

        with gr.Tab("Check a file", id="check"):
            gr.Markdown(
                "Was this picture or video made by CodeSwap? Upload it: its Content Credentials (C2PA) and the invisible "
                "watermark in its faces are read. A missing mark proves nothing (see About)."
            )
            kin = gr.File(label="Image or video", file_types=["image", "video"])
            kout = gr.Textbox(label="What the file carries", lines=8)
            gr.Button("Check").click(check_file, kin, kout, api_name="check")

        with gr.Tab("About", id="about"):
            gr.Markdown(ABOUT)
            gr.Markdown("## Model cards\n\n" + model_cards())
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=32)
    return demo


def load_pipelines(root=None) -> tuple[FaceSwapPipeline, VideoSwapPipeline, SamplingPipeline]:
    swapper = FaceSwapPipeline.from_pretrained(root)
    sampler = SamplingPipeline.from_pretrained(root, detector=swapper.detector)
    return swapper, VideoSwapPipeline(swapper, VideoLimits()), sampler


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    demo = build_app(*load_pipelines(os.environ.get("CODESWAP_WEIGHTS")))
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        max_file_size=MAX_UPLOAD,
        footer_links=["api", "gradio"],
        theme=gr.themes.Soft(),
    )


if __name__ == "__main__":
    main()

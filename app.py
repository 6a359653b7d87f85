"""CodeSwap web app: the page's layout, wired to pipelines/app_core.py, which does the work.

    python app.py          # http://0.0.0.0:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT respected)

Models load once at start-up from weights/ (or the folder / Hub repo id in CODESWAP_WEIGHTS;
huggingface_hub honours HF_HUB_OFFLINE). Nothing per-user is kept in module globals. Each handler
here only turns the form's values into an AppCore call and its errors into messages.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

import gradio as gr

from models import WeightsError
from pipelines import __version__
from pipelines.app_core import OUTPUT_MAX_AGE, AppCore, PhotoSettings, load_pipelines
from pipelines.blend import REGIONS
from pipelines.images import ImageError
from pipelines.swap import NoFaceError
from pipelines.video import VideoError

try:  # ZeroGPU on Hugging Face Spaces; a no-op everywhere else
    import spaces

    gpu = spaces.GPU
except ImportError:
    gpu = lambda fn: fn  # noqa: E731

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
OUTPUT_DIR = Path(os.environ.get("GRADIO_TEMP_DIR", Path(tempfile.gettempdir()) / "gradio")) / "codeswap-outputs"
MAX_UPLOAD = "30mb"
CONCURRENCY = int(os.environ.get("CODESWAP_CONCURRENCY", "2"))
log = logging.getLogger("codeswap")

# Errors a person can act on: shown as they are. Anything else is logged and reported generically.
USER_ERRORS = (ImageError, NoFaceError, VideoError, WeightsError, ValueError)

# Captions wrap instead of being cut off; the intermediates are small pictures, not a wall.
CSS = """
.caption-label { white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
#swap-examples table { table-layout: fixed; width: 100%; }
#swap-examples th { white-space: normal !important; }
#swap-steps .grid-wrap, #explore-reconstructions .grid-wrap, #explore-completions .grid-wrap {
  height: auto !important; max-height: none !important;
}
@media (max-width: 640px) {
  #swap-steps .grid-container, #explore-completions .grid-container, #explore-reconstructions .grid-container {
    grid-template-columns: repeat(2, minmax(0, 1fr)) !important;
  }
}
"""


def friendly_errors(fn):
    """Turn exceptions into gr.Error with a message a person understands; never a stack trace to the
    person. A user's mistake is logged as one line; a real fault with its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
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


FACE_CHOICES = [("All faces", "all"), ("The largest", "largest"), ("The one most like the reference photo", "similar")] + [
    (f"Face number {i}" + (" (the clearest)" if i == 0 else ""), str(i)) for i in range(10)
]
EXPRESSION_CHOICES = [
    ("The source's", "source"),
    ("The target's (the source's face talks and blinks like the target)", "target"),
    ("The target's mouth only", "mouth"),
]
REFERENCE = "Reference: a photo of the person to replace (for 'the one most like the reference photo')"
HOW_IT_WORKS = (
    "**How it works:** both faces are found and aligned, turned into a 16x16 grid of codes by a VQGAN, and the "
    "source's codes replace the target's inside the chosen regions. The result is decoded, given the source's fine "
    "detail at the photo's resolution, colour-matched and blended into the target photo; it carries an invisible "
    "watermark and Content Credentials (see About)."
)


def swap_settings_panel(video: bool) -> list[gr.components.Component]:
    """The options shared by the photo and the video tab, in plain words -> [regions, target face,
    strength, softness, colour, detail, expression, hands, harmonize (photo only)]."""
    with gr.Row():
        regions = gr.CheckboxGroup(list(REGIONS), value=["face"], label="What to swap", info="The whole face, or only some of its parts")
        target = gr.Dropdown(
            FACE_CHOICES, value="all", label="Which faces to replace",
            info="In a video, face number N is the N-th person to appear" if video else "When the target photo has several faces",
        )  # fmt: skip
    with gr.Row():
        strength = gr.Slider(
            0, 1, value=1.0, step=0.05, label="Strength", info="1 = fully the source's face; lower lets the original through"
        )
        softness = gr.Slider(0, 0.3, value=0.08, step=0.01, label="Edge softness", info="How gradually the new face fades into the photo")
        detail = gr.Slider(
            0, 1, value=1.0, step=0.05, label="Fine detail from the source photo",
            info="1 = the source's own skin texture and sharpness; 0 = only what the model's codes hold (softer)",
        )  # fmt: skip
    expression = gr.Radio(
        EXPRESSION_CHOICES, value="target" if video else "source", label="Whose expression",
        info="The target's: the source's face is reshaped to the target's mouth, jaw and eyelids, so the person still talks and blinks",
    )  # fmt: skip
    with gr.Column():  # one under the other: side by side, a phone's width clipped the third
        color = gr.Checkbox(value=True, label="Match the target's skin colour and light")
        hands = gr.Checkbox(value=True, label="Keep hands in front of a face (and leave out the source's)")
        harmonize = None if video else gr.Checkbox(value=False, label="Smooth the seam with the code transformer (slower)")
    return [c for c in (regions, target, strength, softness, color, detail, expression, hands, harmonize) if c is not None]


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
   the regions sit on each face's own landmarks. With the target's expression (the video default), the
   source's aligned face is first reshaped to the target's mouth, jaw and eyelids (468 dense landmarks,
   a piecewise-affine warp) before it is encoded, and the inside of an open mouth is the target's, so a
   video's actors keep talking and blinking. Optionally the code transformer resamples the codes along
   the seam.
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


def build_app(core: AppCore) -> gr.Blocks:
    """The page: one tab per task, each button wired to one AppCore method through a thin handler."""
    families = core.sampling_families
    usage_text, usage_picture = core.codebook_usage()

    @gpu
    @friendly_errors
    def swap_photo(source, target, regions, target_face, strength, softness, color, harmonize, reference=None, detail=1.0,
                   expression="source", hands=True, progress=gr.Progress()):  # fmt: skip
        settings = PhotoSettings(regions, target_face, strength, softness, color, detail, expression, harmonize, hands)
        return core.swap_photo(source, target, settings, reference, progress=lambda f, what: progress(f, desc=what))

    @gpu
    @friendly_errors
    def swap_example(source, target, progress=gr.Progress()):
        return core.swap_photo(source, target, PhotoSettings(["face"]), progress=lambda f, what: progress(f, desc=what))

    @gpu
    @friendly_errors
    def swap_video(source, clip, regions, target_face, strength, softness, color, detect_every, reference=None, detail=1.0,
                   expression="target", hands=True, request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        settings = PhotoSettings(regions, target_face, strength, softness, color, detail, expression, hands=hands)
        return core.swap_video(
            source, clip, settings, detect_every, reference, session=request.session_hash if request is not None else None,
            progress=lambda done, total: progress((done, total), desc="Swapping frames", unit="frames"),
        )  # fmt: skip

    def cancel_video(request: gr.Request = None) -> str:
        return core.stop_video(request.session_hash if request is not None else None)

    sample, reconstruct, interpolate, complete, check_file = (
        gpu(friendly_errors(f)) for f in (core.sample, core.reconstruct, core.interpolate, core.complete, core.check_file)
    )

    with gr.Blocks(title="CodeSwap", delete_cache=(1800, OUTPUT_MAX_AGE)) as demo:
        gr.Markdown(
            f"# CodeSwap {__version__}\nPut one person's face into another photo or video, and explore the classic generative "
            "models of faces. Runs on 2 CPU cores. Every output is marked as synthetic."
        )
        with gr.Tab("Swap photos", id="swap"):
            with gr.Row():
                src = PhotoUpload(label="Source: the face to use (A)", sources=["upload", "webcam", "clipboard"], elem_id="swap-source")
                tgt = PhotoUpload(label="Target: the photo to change (B)", sources=["upload", "webcam", "clipboard"], elem_id="swap-target")
                out = gr.Image(type="filepath", label="Result", format="png", interactive=False, elem_id="swap-result",
                               buttons=["download", "fullscreen"])  # fmt: skip
            go = gr.Button("Swap", variant="primary", elem_id="swap-button")
            info = gr.Markdown()
            gr.Markdown(HOW_IT_WORKS)
            with gr.Accordion("Options", open=False):
                settings = swap_settings_panel(video=False)
                ref = PhotoUpload(label=REFERENCE, height=160)
            with gr.Accordion("Intermediate steps", open=False):
                steps = gr.Gallery(label="From the aligned faces to the decoded swap", columns=4, height="auto", elem_id="swap-steps")
            regions, target_face, strength, softness, color, detail, expression, hands, harmonize = settings
            go.click(
                swap_photo,
                [src, tgt, regions, target_face, strength, softness, color, harmonize, ref, detail, expression, hands],
                [out, steps, info],
                api_name="swap_photo",
            )
            astronaut, generated = str(ASSETS / "astronaut.png"), str(ASSETS / "generated_face_vae.png")
            gr.Examples([[astronaut, generated], [generated, astronaut]], [src, tgt], [out, steps, info], swap_example,
                        cache_examples=True, cache_mode="lazy", label="Examples (public-domain and generated faces)",
                        elem_id="swap-examples")  # fmt: skip

        with gr.Tab("Swap video", id="video"):
            with gr.Row():
                vsrc = PhotoUpload(label="Source: the face to use", sources=["upload", "webcam", "clipboard"], elem_id="video-source")
                vin = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                vout = gr.Video(label="Result (with the original audio)", interactive=False, elem_id="video-result", buttons=["download"])
            with gr.Row():
                vgo = gr.Button("Swap video", variant="primary", elem_id="video-button", scale=4)
                vstop = gr.Button("Stop", variant="stop", elem_id="video-stop", scale=1)
            vinfo = gr.Markdown()
            with gr.Accordion("Options", open=False):
                vsettings = swap_settings_panel(video=True)
                vdetect = gr.Slider(1, 5, value=3, step=1, label="Look for faces every k-th frame",
                                    info="Faces are followed in between; 1 is slowest and surest")  # fmt: skip
                vref = PhotoUpload(label=REFERENCE, height=160)
            vregions, vtarget, vstrength, vsoft, vcolor, vdetail, vexpression, vhands = vsettings
            vgo.click(
                swap_video,
                [vsrc, vin, vregions, vtarget, vstrength, vsoft, vcolor, vdetect, vref, vdetail, vexpression, vhands],
                [vout, vinfo],
                api_name="swap_video",
            )
            # not queued: with every worker busy swapping, a Stop must still get through at once
            vstop.click(cancel_video, None, vinfo, api_name="cancel_video", queue=False)

        with gr.Tab("Sample", id="sample"):
            gr.Markdown("Faces that never existed, drawn from each model family (each at its own resolution).")
            with gr.Row():
                family = gr.Radio(families, value=families[-1] if families else None, label="Model family",
                                  info="vqgan: the VQGAN's codes drawn by its transformer prior")  # fmt: skip
                n = gr.Slider(1, 32, value=16, step=1, label="How many")
                seed = gr.Number(value=0, precision=0, label="Seed", info="The same seed gives the same faces")
            with gr.Accordion("Sampling options", open=False), gr.Row():
                temperature = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Temperature", info="ae, vae, vqgan: lower = plainer faces")
                top_k = gr.Slider(0, 512, value=100, step=1, label="Top-k", info="vqgan: draw each code among the k likeliest (0 = off)")
                top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", info="vqgan: among the likeliest codes up to p (1 = off)")
                truncation = gr.Slider(0, 3, value=0, step=0.1, label="Truncation", info="gan: redraw latents beyond this (0 = off)")
            sgo = gr.Button("Sample", variant="primary")
            sizes = ", ".join(f"{f} {core.sampler.size_of(f)}x{core.sampler.size_of(f)}" for f in families)
            sout = gr.Image(type="filepath", label=f"Samples ({sizes})", format="png", interactive=False)
            sgo.click(sample, [family, n, seed, temperature, top_k, top_p, truncation], sout, api_name="sample")

        with gr.Tab("Explore", id="explore"):
            gr.Markdown("### Reconstruction by every model\nThe same face through each model's encoder and decoder.")
            with gr.Row():
                rin = PhotoUpload(label="A photo with a face", elem_id="explore-reconstruct-input")
                rout = gr.Gallery(label="input · ae · vae · vqgan", columns=4, height="auto", elem_id="explore-reconstructions")
            gr.Button("Reconstruct", elem_id="explore-reconstruct-button").click(reconstruct, rin, rout, api_name="reconstruct")
            gr.Markdown("### Interpolation between two faces")
            with gr.Row():
                ia = PhotoUpload(label="First face")
                ib = PhotoUpload(label="Second face")
                with gr.Column():
                    ifam = gr.Radio(core.sampler.encoders(), value="vae", label="Latent space")
                    isteps = gr.Slider(2, 16, value=8, step=1, label="Steps")
                    imode = gr.Radio(["lerp", "slerp"], value="slerp", label="Path", info="slerp follows the sphere the latents live near")
            iout = gr.Image(type="filepath", label="Interpolation", format="png", interactive=False)
            gr.Button("Interpolate").click(interpolate, [ia, ib, ifam, isteps, imode], iout, api_name="interpolate")
            gr.Markdown("### Completion by the transformer\nKeep part of a face's codes and let the transformer redraw the rest.")
            with gr.Row():
                cin = PhotoUpload(label="A photo with a face")
                with gr.Column():
                    ckeep = gr.Dropdown(["top"] + list(REGIONS), value="top", label="Keep the top half, or redraw this part")
                    cn = gr.Slider(1, 8, value=4, step=1, label="Variations")
                    cseed = gr.Number(value=0, precision=0, label="Seed")
                    ctemp = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Temperature")
            cout = gr.Gallery(label="Completions", columns=6, height="auto", elem_id="explore-completions")
            gr.Button("Complete").click(complete, [cin, ckeep, cn, cseed, ctemp], cout, api_name="complete")
            gr.Markdown(f"### VQGAN codebook usage\n{usage_text}")
            gr.Image(usage_picture, label="Codes sorted by running usage", interactive=False, format="png")

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


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    core = AppCore(*load_pipelines(os.environ.get("CODESWAP_WEIGHTS")), output_dir=OUTPUT_DIR)
    build_app(core).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        max_file_size=MAX_UPLOAD,
        footer_links=["api", "gradio"],
        theme=gr.themes.Soft(),
        css=CSS,
    )


if __name__ == "__main__":
    main()

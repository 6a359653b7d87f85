# CodeSwap as a Hugging Face Docker Space (or any container host): CPU only, port 7860.
# Follows the Spaces Docker conventions: a non-root user with uid 1000, HOME set, app in $HOME/app.
FROM python:3.11-slim

# libgl/libglib: OpenCV's runtime needs; ffmpeg itself ships inside imageio-ffmpeg's wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    OMP_NUM_THREADS=2
WORKDIR $HOME/app

# Dependencies first, so code changes do not reinstall them. torch and torchvision come as CPU-only
# builds from PyTorch's own index (the versions pinned in requirements.txt; "2.14.1+cpu" satisfies
# "==2.14.1", so the second install keeps them): none of the CUDA libraries PyPI's build brings.
COPY --chown=user requirements.txt .
RUN grep -E '^torch(vision)?==' requirements.txt > /tmp/torch-cpu.txt \
    && pip install --no-cache-dir --user -r /tmp/torch-cpu.txt --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir --user -r requirements.txt

COPY --chown=user app.py ./
COPY --chown=user models ./models
COPY --chown=user pipelines ./pipelines
COPY --chown=user weights ./weights
COPY --chown=user assets ./assets

# Content Credentials: pass your signing key at run time (never bake it into the image), e.g.
#   docker run -e CODESWAP_C2PA_CERT="$(cat chain.pem)" -e CODESWAP_C2PA_KEY="$(cat key.pem)" ...
# Without it, a self-signed development key is made in $HOME/.cache/codeswap on first use.
EXPOSE 7860
CMD ["python", "app.py"]

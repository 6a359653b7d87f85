"""Inference pipelines. Each takes built models in its constructor; images enter and leave as RGB uint8.

    from pipelines import FaceSwapPipeline

Names are imported on first use (PEP 562), so `python -m pipelines.swap` does not import
pipelines.swap twice.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "FaceSwapPipeline": "swap",
    "SwapOptions": "swap",
    "SwapResult": "swap",
    "NoFaceError": "swap",
    "VideoSwapPipeline": "video",
    "SamplingPipeline": "sampling",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

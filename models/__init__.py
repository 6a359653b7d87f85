"""CodeSwap's model families: one file each, a config dataclass and an nn.Module.

from models import VQGAN
vq = VQGAN.from_pretrained("weights/vqgan")
"""

from .autoencoder import Autoencoder, AutoencoderConfig
from .family import FaceModel, sample_images
from .gan import GAN, GANConfig
from .hub import WeightsError
from .transformer import CodeTransformer, TransformerConfig
from .vae import VAE, VAEConfig
from .vqgan import VQGAN, VQGANConfig

# Family name (as used on the command line and in weights/<name>/) -> model class. Each class offers
# the FaceModel surface (models/family.py); nothing else in the code asks which family it has.
REGISTRY: dict[str, type[FaceModel]] = {cls.family: cls for cls in (Autoencoder, VAE, GAN, VQGAN, CodeTransformer)}

__all__ = [
    "REGISTRY",
    "FaceModel",
    "sample_images",
    "WeightsError",
    "Autoencoder",
    "AutoencoderConfig",
    "VAE",
    "VAEConfig",
    "GAN",
    "GANConfig",
    "VQGAN",
    "VQGANConfig",
    "CodeTransformer",
    "TransformerConfig",
]

"""CodeSwap's model families: one file each, a config dataclass and an nn.Module.

from models import VQGAN
vq = VQGAN.from_pretrained("weights/vqgan")
"""

from .autoencoder import Autoencoder, AutoencoderConfig
from .gan import GAN, GANConfig
from .hub import WeightsError
from .transformer import CodeTransformer, TransformerConfig
from .vae import VAE, VAEConfig
from .vqgan import VQGAN, VQGANConfig

# Family name (as used on the command line and in weights/<name>/) -> model class.
REGISTRY = {
    "ae": Autoencoder,
    "vae": VAE,
    "gan": GAN,
    "vqgan": VQGAN,
    "transformer": CodeTransformer,
}

__all__ = [
    "REGISTRY",
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

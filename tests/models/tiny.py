"""Tiny seeded configs of every family: fast enough for unit tests, same code paths as the real ones."""

from models import AutoencoderConfig, GANConfig, TransformerConfig, VAEConfig, VQGANConfig

TINY = {
    "ae": AutoencoderConfig(image_size=16, channels=(8, 16), res_blocks=1, latent_dim=8),
    "vae": VAEConfig(image_size=16, channels=(8, 16), res_blocks=1, latent_dim=8),
    "gan": GANConfig(image_size=16, latent_dim=8, generator_width=8, discriminator_width=8),
    "vqgan": VQGANConfig(image_size=16, channels=(8, 16), res_blocks=1, codebook_size=32, code_dim=4, disc_start=0, disc_channels=8),
    "transformer": TransformerConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=32),
}

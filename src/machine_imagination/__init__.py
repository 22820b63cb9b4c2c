"""Machine Imagination: a whole text in, a CLIP-guided BigGAN "illustrated text" film out.

Modules, one idea each: `config` (validation), `text` (text -> prompts), `models` (loading BigGAN and
CLIP), `tiny_models` (offline checkpoints), `search` (the per-sentence latent search), `latents`
(latents on disk), `walk` (interpolation and frame schedule), `film` (captions and video).
Importing the package is cheap and has no side effects; torch is imported only where it is used.
"""

__version__ = "0.1.0"

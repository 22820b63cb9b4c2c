"""Worlds made here, apart from the product code: models the pipeline loads through the same code as
real weights, for running and checking it without downloads.

  tiny             tiny random BigGAN and CLIP in the real on-disk formats (config/offline.yaml)
  shapes           the shapes world: scenes, captions, held-out prompts and a pixel judge
  shapes_training  training the shapes world's BigGAN and CLIP (shipped in models/shapes)
"""

"""The search stage: per sentence, BigGAN latents whose image CLIP finds closest to the prompt.

  settings    SearchSettings: the `search:` keys, with the workshop notebook's defaults
  starts      where a search starts: noise, initial class vectors, a previous sentence's latents
  augment     the views CLIP scores: random crops, FuseDream's richer augmentations
  objective   the loss of a batch of candidates (generator -> crops -> CLIP, plus regularisers)
  state       SearchState: everything carried between iterations, what a checkpoint saves
  loop        search_prompt: check inputs, build the state, CMA-ES generations, gradient steps
  judge       the held-out score of the image found
  checkpoint  saving and resuming a search across preemption
  history     the per-iteration table and plot; progress: the search video
  candidates  several searches per sentence: their seeds and files, the pick, the keep job
  job         the search job of workflow/rules/search.smk
"""

"""What a search minimises, as the workshop notebook does: for each candidate

    loss = 100 · (1 − CLIP similarity to the prompt) + 100 · Σ weight_i · term_i

(the notebook multiplies the regularisers by the same loss factor 100, so its default class-entropy
weight 1e-4 weighs 1e-2 of that term). Batched end to end: the generator renders a whole population
(in chunks), and every crop of every image goes through CLIP in chunks."""
from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

from .augment import random_crop_boxes, rich_augment
from .settings import SearchSettings
from .starts import smoothed_entropy

REGULARISERS = ("noise_normality", "embedding_normality", "class_entropy")
LOSS_FACTOR = 100.0  # the notebook's loss_factor, for the similarity and the regularisers alike


class Evaluation(NamedTuple):
    """The objective of a batch of candidates, as tensors."""

    loss: object  # [N]
    similarity: object  # [N]: CLIP similarity, weighted over the prompt's parts
    terms: dict  # regulariser name -> [N] (unweighted)
    regularisation: object  # [N]: 100 · Σ weight_i · term_i, the loss's share from the regularisers


def with_class(x, fixed_class):
    """Candidates [N, z_dim] of a search that keeps its class fixed, completed with that class vector
    into the [N, z_dim + C] the objective takes; other candidates as they are."""
    import torch

    if fixed_class is None:
        return x
    cls = torch.as_tensor(fixed_class, dtype=x.dtype, device=x.device).expand(x.shape[0], -1)
    return torch.cat([x, cls], dim=1)


class Objective:
    """Loss of a batch of candidates x [N, z_dim + C]: noise, then class logits [num_classes] or (class
    mode 'embedding') a searched embedding [embed_dim], which the generator gets times
    settings.embedding_factor. Differentiable when called with gradients enabled."""

    def __init__(self, generator, clip, prompt_parts, settings: SearchSettings):
        import torch

        self.generator = generator
        self.clip = clip
        self.settings = settings
        self.prompt_parts = list(prompt_parts)  # [(text, weight), …]
        self.z_dim = generator.z_dim
        texts = [t for t, _ in prompt_parts]
        with torch.no_grad():  # not inference_mode: gradient optimizers use the embedding in autograd
            self.text = clip.encode_text(texts)  # [P, D], once per search
        weights = torch.tensor([w for _, w in prompt_parts], dtype=torch.float32)
        self.weights = (weights / weights.clamp_min(0).sum()).to(clip.device)
        embed = generator.class_embeddings()  # [num_classes, embed_dim]
        self.embed_mean, self.embed_std = float(embed.mean()), float(embed.std())
        self.target_entropy = smoothed_entropy(generator.num_classes, settings.class_smoothing)
        # Chunk sizes start at the configured ones and halve on a GPU out-of-memory error.
        self.chunk = {"generator": settings.generator_batch, "clip": max(1, settings.clip_batch)}

    def __call__(self, x, crop_rng) -> Evaluation:
        return self.together([x], [crop_rng])[0]

    def together(self, xs: list, crop_rngs: list) -> list[Evaluation]:
        """The objective of several searches' candidates (search i's [N_i, z_dim + C], its crops drawn
        from its own `crop_rngs[i]` as alone) in one pass through the models: a race's live
        candidates (search.race). Where the networks give each image the same result in any batch
        (this CPU: tests/test_race.py), each search's Evaluation is the one it gets alone."""
        import torch

        sizes = [len(x) for x in xs]
        x = xs[0] if len(xs) == 1 else torch.cat(xs)
        similarity = self.similarities_together(self.images(x), sizes, crop_rngs) @ self.weights
        terms = self.regularisers(x)
        weighted = [getattr(self.settings, name) * terms[name].to(similarity.dtype)
                    for name in REGULARISERS if getattr(self.settings, name)]
        regularisation = LOSS_FACTOR * sum(weighted, torch.zeros_like(similarity))
        loss = LOSS_FACTOR * (1.0 - similarity) + regularisation
        split_terms = [dict(zip(terms, parts)) for parts in zip(*(term.split(sizes) for term in terms.values()))]
        return [Evaluation(*parts) for parts in zip(loss.split(sizes), similarity.split(sizes), split_terms,
                                                    regularisation.split(sizes))]

    # -- the generator

    def images(self, x):
        """Images [N, 3, H, W] in [0, 1], float32, of candidates x."""
        return self.in_chunks("generator", self._render, x)

    def _render(self, x):
        return self.render(x[:, : self.z_dim], self.settings.generator_class(x[:, self.z_dim:]))

    def render(self, noise, class_vector):
        """Images of the generator's own inputs (noise, and logits or the embedding it is given)."""
        with self.autocast():
            images = self.generator.render(noise, class_vector, self.settings.truncation,
                                           class_mode=self.settings.class_mode, grayscale=self.settings.grayscale)
        return images.float()

    # -- CLIP

    def similarities(self, images, crop_rng, crops: int | None = None):
        """Cosine similarity of each image's augmentations to each prompt part, averaged: [N, P]."""
        return self.similarities_together(images, [len(images)], [crop_rng], crops)

    def similarities_together(self, images, sizes: list, crop_rngs: list, crops: int | None = None):
        """The same of several searches' images ([sum(sizes), 3, H, W], search i's `sizes[i]` of them
        in turn), each search's augmentations drawn from its own stream as they are alone."""
        import torch
        import torch.nn.functional as F

        s = self.settings
        crops = crops or s.crops
        side, size, rich = images.shape[-1], self.clip.image_size, s.augmentation == "rich"
        if side <= size:
            # The notebook crops only when the image is larger than CLIP's input.
            views = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
            if rich:
                views = torch.cat([rich_augment(part, rng) for part, rng in zip(views.split(sizes), crop_rngs)])
            return self._score_views(views)
        # 1. each search's crops from its stream, numbered by their image in the whole batch
        shift = 0.1 if rich else 0.0
        boxes, first = [], 0
        for n, rng in zip(sizes, crop_rngs):
            box = random_crop_boxes(n, crops, side, s.crop_min, s.crop_max, rng, shift).to(images.device)
            if first:
                box[:, 0] += first
            boxes.append(box)
            first += n
        # 2. scored in chunks: a search's own chunks when the rich augmentations draw per chunk, else
        #    every search's crops in the same chunks
        if rich:
            scores = torch.cat([self.in_chunks("clip", partial(self._score_crops, images, rng), box)
                                for box, rng in zip(boxes, crop_rngs)])
        else:
            scores = self.in_chunks("clip", partial(self._score_crops, images, None), torch.cat(boxes))
        return scores.view(len(images), crops, -1).mean(dim=1)

    def _score_crops(self, images, crop_rng, boxes):
        from torchvision.ops import roi_align

        # roi_align crops and resizes a whole batch at once; its adaptive sampling averages several
        # samples per output pixel, the anti-aliasing a downscale needs.
        views = roi_align(images, boxes, output_size=self.clip.image_size, spatial_scale=1.0, sampling_ratio=-1,
                          aligned=True)
        return self._score_views(rich_augment(views, crop_rng) if crop_rng is not None else views)

    def _score_views(self, views):
        with self.autocast():
            embeddings = self.clip.encode_images(views)
        return embeddings.float() @ self.text.T

    # -- the regularisers (the notebook's)

    def regularisers(self, x) -> dict:
        """Per candidate: the noise's distance from N(0, 1), the class embedding's from the embeddings'
        mean and spread, and the class distribution's entropy's from that of one smoothed class."""
        import torch

        z, cls = x[:, : self.z_dim], x[:, self.z_dim:]
        terms = {"noise_normality": z.mean(dim=1) ** 2 + (z.std(dim=1) - 1) ** 2}
        if self.settings.class_mode == "embedding":
            embedding = self.settings.generator_class(cls)
            terms["class_entropy"] = torch.zeros_like(terms["noise_normality"])
        else:
            probs = torch.softmax(cls, dim=1)
            embedding = self.generator.embed(probs)
            entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)
            terms["class_entropy"] = (entropy - self.target_entropy).abs()
        terms["embedding_normality"] = ((embedding.mean(dim=1) - self.embed_mean) ** 2
                                        + (embedding.std(dim=1) - self.embed_std) ** 2)
        return terms

    # -- running it on a device

    def in_chunks(self, kind: str, fn, items):
        """fn over `items` in chunks of self.chunk[kind], concatenated; on CUDA out-of-memory the chunk
        is halved and the work goes on, instead of failing the job."""
        import torch

        out, start = [], 0
        while start < len(items):
            size = self.chunk[kind]
            try:
                out.append(fn(items[start:start + size]))
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                self.chunk[kind] = size // 2
                torch.cuda.empty_cache()
                warnings.warn(f"out of GPU memory: {kind} chunks lowered to {size // 2}")
                continue
            start += size
        return torch.cat(out)

    def autocast(self):
        """Autocast of the networks to search.precision's bf16 or fp16 (off for fp32)."""
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.settings.precision)
        return torch.autocast(self.generator.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

"""The models: loading the generator (BigGAN-deep) and CLIP (open_clip) by name or from local files,
the generator's class names, the device and its precision, and fetching weights for offline nodes.

  generator  BigGAN behind the interface the search and the film use; its class names
  clip       CLIP with its tokenizer and image normalisation
  classes    the ImageNet class names; naming a class or an initial-class mode
  device     the device, deterministic torch, precision advice, the speed settings
  fetch      the named models' weights, once, into a cache directory (weights.cache)

This package is the only one that knows where weights come from. Named models download on first use
(BigGAN into $PYTORCH_PRETRAINED_BIGGAN_CACHE, CLIP into the Hugging Face cache, $HF_HOME); a local
directory or file is loaded through the same code, which is how offline cluster nodes, the tiny
offline models and the shapes world work. Every failure to obtain weights becomes one
`ModelUnavailableError` that says how to pre-place the files, instead of a network traceback.
"""


class ModelError(RuntimeError):
    """A model could not be loaded; the message says what to change."""


class ModelUnavailableError(ModelError):
    """Weights are not on this machine and could not be fetched."""


class CheckpointMismatchError(ModelError):
    """A checkpoint's tensors do not match the architecture its config describes."""


# What every "could not fetch the weights" message ends with.
NO_NETWORK_HELP = (
    "For compute nodes without network, set weights.cache in the config and fetch the weights once where "
    "there is network (`snakemake --cores 1 fetch_weights`, or `machine-imagination models fetch`). To try "
    "the pipeline with no download at all: `snakemake --cores 2 --configfile config/demo.yaml`."
)

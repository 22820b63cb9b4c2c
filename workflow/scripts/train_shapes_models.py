"""Snakemake script: retrain the shapes world's models and compare them with the shipped ones."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.worlds.shapes_training import compare_models, train_models

with job_log(snakemake.log[0]):
    out = Path(snakemake.output.evaluation).parent
    train_models(out)
    different = compare_models(out, snakemake.params.shipped)
    print("byte-identical to the shipped models" if not different
          else f"differs from the shipped models in: {', '.join(different)}")

# Machine Imagination: a whole text in, a CLIP-guided BigGAN "illustrated text" film out.
#
#   snakemake --cores all                                    the default project (config/config.yaml)
#   snakemake --cores 2 --configfile config/offline.yaml     anywhere, no network, tiny models
#
# results/<text>/
#   prompts.tsv             one row per sentence: index, sentence, prompt, seed, tokens, truncation
#   latents/<index>.npz     the searched BigGAN latents of each sentence, with what made them
#   images/<index>.png      each sentence's image
#   history/<index>.tsv|png each search's per-iteration history and its plot
#   segments/<index>.mp4    sentence <index> held with its caption, then the walk to the next one
#                           (title.mp4 / end.mp4: the optional cards)
#   film.mp4, film.srt      the captioned film and its subtitles; film.json records what made it
#   contact_sheet.png       every sentence's image at a glance; summary.tsv: prompts and scores
#   review.html, review/    every take of every sentence, to pick, reword and re-roll (machine-imagination review)
#   manifest.json           the config, seeds, models, versions and a SHA-256 of every output
# logs/ and benchmarks/ mirror results/.
from snakemake.utils import min_version

min_version("9.27")


# A --configfile on the command line replaces the default project instead of merging into it
# (Snakemake would otherwise add its texts to the default corpus).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/film.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True

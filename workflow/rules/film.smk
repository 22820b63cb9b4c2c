# The film: one segment per sentence (its captioned image held, then the walk to the next image),
# optional title and end cards, joined without re-encoding. Segments are rendered by one job per block
# of film.segments_per_job consecutive sentences (rule render, the generator loaded once per job), which
# writes segments/{index}.mp4 and a receipt named by the digest of what its segments depend on
# (machine_imagination.pipeline: each one's caption, hold and walk, the kept latents it walks between,
# the film's settings for segments). So exactly the render jobs holding a changed segment run: an edited
# sentence re-renders the segments that walk from it and to it; a caption colour every segment; a
# credits line only the end card. With film.pacing: audio, the segments also follow the reading's cues
# (rule prepare_reading). A profile's set-resources name `render` (profiles/slurm: on a GPU).


localrules:
    prepare_reading,
    render_card,
    write_subtitles,
    assemble_film,


rule prepare_reading:
    input:
        unpack(recording_files),
    output:
        reading="results/{text}/audio/reading.wav",
        timing="results/{text}/audio/timing.json",
    log:
        "logs/{text}/prepare_reading.log",
    params:
        # Narrated (no recording): the sentences, read by espeak-ng as the film's settings say.
        sentences=lambda wildcards: [] if "reading" in sound_of(wildcards.text) else [
            p.sentence for p in PROMPTS[wildcards.text]
        ],
        narration=lambda wildcards: None if "reading" in sound_of(wildcards.text) else (
            JOBS[wildcards.text].film.narration_identity()
        ),
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare_reading.py"


rule render:
    input:
        # The kept latents the segments walk between, in order only: the receipt's digest says when a
        # segment changes (a keep job that ran for another sentence re-renders nothing here).
        kept=lambda wildcards: [ancient(f) for f in JOBS[wildcards.text].render_inputs(block_of(wildcards))["kept"]],
        generator=generator_inputs,
        timing=lambda wildcards: reading_timing(wildcards).get("timing", []),
    output:
        receipt("render"),
    log:
        "logs/{text}/render/{block}.{digest}.log",  # a rule's files share its wildcards: the digest too
    benchmark:
        "benchmarks/{text}/render/{block}.{digest}.tsv"
    params:
        **block_params("render_params"),
    # One torch thread: on a machine of few cores, render jobs side by side (each with its own core)
    # beat one job whose two threads wait for each other whenever another process takes a core
    # (docs/performance.md, "2,000 sentences end to end"). On a GPU it feeds the device; a profile may
    # give the encoder more cores (profiles/slurm: cpus_per_task).
    threads: 1
    resources:
        runtime=block_runtime(30),
        mem_mb=8000,
        gpu=gpus("film"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_segment.py"


rule render_card:
    input:
        generator=generator_inputs,
    output:
        "results/{text}/segments/{card}.mp4",
    wildcard_constraints:
        card="title|end",
    log:
        "logs/{text}/segments/{card}.log",
    params:
        # Its text, length, frame, lettering and encoding, and nothing else of the film.
        card=lambda wildcards: JOBS[wildcards.text].card(wildcards.card)[2],
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_card.py"


rule write_subtitles:
    input:
        unpack(reading_timing),
    output:
        report(
            "results/{text}/film.srt",
            caption="../report/subtitles.rst",
            category="{text}",
            subcategory="Film",
        ),
    log:
        "logs/{text}/write_subtitles.log",
    params:
        # The captions and when each shows (with film.pacing: audio, the reading's cues say).
        subtitles=lambda wildcards: JOBS[wildcards.text].subtitle_identity(),
    threads: 1
    resources:
        runtime=5,
        mem_mb=500,
    conda:
        "../../environment.yml"
    script:
        "../scripts/write_subtitles.py"


rule assemble_film:
    input:
        unpack(reading_files),
        unpack(music_file),
        unpack(film_segments),
        # After any keep job, so that a render job whose segments changed is always found (it waits
        # for keep jobs in order only): joining the film again costs seconds.
        kept=lambda wildcards: JOBS[wildcards.text].all_receipts("keep"),
        subtitles="results/{text}/film.srt",
    output:
        film=report(
            "results/{text}/film.mp4", caption="../report/film.rst", category="{text}", subcategory="Film"
        ),
        record="results/{text}/film.json",
    log:
        "logs/{text}/assemble_film.log",
    params:
        captions=lambda wildcards: [p.sentence for p in PROMPTS[wildcards.text]],
        sound=lambda wildcards: sound_of(wildcards.text),
        film=lambda wildcards: JOBS[wildcards.text].film.record(),
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/assemble_film.py"

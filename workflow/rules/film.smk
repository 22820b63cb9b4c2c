# The film: one segment per sentence (its captioned image held, then the walk to the next image),
# optional title and end cards, joined without re-encoding. Segments are rendered in jobs of
# film.segments_per_job consecutive sentences (a rule per block, generated below, the generator loaded
# once per job); a block depends only on its sentences' latents and the next one's, so an edited
# sentence re-renders just the blocks of the segments that touch it. A profile's set-resources for
# `render_segment` apply to every render job. With
# film.pacing: audio, the segments also follow the reading's cues (rule prepare_reading).


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
        # Narrated (no recording): the sentences, read by espeak-ng.
        sentences=lambda wildcards: [] if "reading" in sound_of(wildcards.text) else [
            p.sentence for p in PROMPTS[wildcards.text]
        ],
        narration={k: config["film"][k] for k in ("narration", "voice", "words_per_minute", "narration_pause")},
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare_reading.py"


for block, texts in blocks(config["film"]["segments_per_job"]).items():

    rule:
        name:
            f"render_{block_name(block).replace('-', '_')}"
        input:
            unpack(reading_timing),
            latents=segment_latents(block),
            generator=generator_inputs,
        output:
            [f"results/{{text}}/segments/{index:04d}.mp4" for index in block],
        wildcard_constraints:
            text=texts_pattern(texts),
        log:
            f"logs/{{text}}/segments/{block_name(block)}.log",
        benchmark:
            f"benchmarks/{{text}}/segments/{block_name(block)}.tsv"
        params:
            # With audio pacing the job reads the holds from the reading's cues.
            segments=block_segments(block),
            settings=config["film"],
            results="results/{text}",  # the job records its segments' times there (timings/)
        threads: 2
        resources:
            **stage_resources("render_segment", runtime=block_runtime(30, block), mem_mb=8000, gpu=gpus("film")),
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
        text=lambda wildcards: title_of(wildcards.text) if wildcards.card == "title" else config["film"]["credits"],
        frames=lambda wildcards: card_frames(config["film"])[0 if wildcards.card == "title" else 1],
        settings=config["film"],
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
        captions=lambda wildcards: [p.sentence for p in PROMPTS[wildcards.text]],
        settings=config["film"],
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
        segments=film_segments,
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
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/assemble_film.py"

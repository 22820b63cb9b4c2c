"""The film stage: from each sentence's latents to the captioned film.

Each segment (one sentence's image held, then the walk to the next image) is rendered and encoded on
its own with the same settings, so a changed sentence re-renders only the segments that touch it; the
film is then joined without re-encoding (`video.concat_videos`).

  plan      which frame shows what (holds, transitions, cards, caption timing)
  walk      a segment's frames: the image held, then the spherical walk to the next
  captions  captions burned into frames, title and end cards, SRT subtitles
  jobs      the jobs of workflow/rules/film.smk
"""

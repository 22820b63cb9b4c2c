"""Machine Imagination: a whole text in, a CLIP-guided BigGAN "illustrated text" film out.

The package has the shape of the pipeline (docs/architecture.md): the stages `text`, `search`, `film`
and `report`, each owning the jobs of its rules file in workflow/rules/, over a small core (`project`,
`latents`, `models`, `render`, `video`, `files`), with the worlds made here (`worlds`) apart and the
`machine-imagination` command in `cli`. Importing any module is cheap and has no side effects; torch is
imported only where it is used.
"""

__version__ = "0.1.0"

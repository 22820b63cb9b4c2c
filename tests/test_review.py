"""The review page (report.review) on a synthetic finished text (no run, no browser): what it shows of a
results tree, and that it is one file that references its images."""
import json
import re
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from review_scale import fake_results, fake_settings  # noqa: E402


def test_the_page_shows_every_sentence_and_take_of_the_results(tmp_path):
    from machine_imagination.latents import Latents
    from machine_imagination.report.review import THUMBNAILS, read_review, review_page_job

    root = tmp_path / "results" / "fake"
    fake_results(root, 3, 4)
    settings = fake_settings(candidates=4)
    review = review_page_job(settings, root / "review.html", root / THUMBNAILS)
    assert [s.index for s in review.sentences] == [0, 1, 2]
    for view in review.sentences:
        kept = Latents.load(root / "latents" / f"{view.index:04d}.npz")
        assert view.kept == kept.candidates.kept and view.picked_by == "judge"
        assert [t.score for t in view.takes] == [round(s, 5) for s in kept.candidates.scores]
        assert [t.seed for t in view.takes] == list(kept.candidates.seeds)
        for path in (view.image, view.plot, view.thumbs, *(t.image for t in view.takes),
                     *(t.plot for t in view.takes)):
            assert (root / path).is_file(), path
    assert len(review.cues) == 3 and review.cues[1][2] == review.sentences[1].sentence
    from PIL import Image

    assert Image.open(root / THUMBNAILS / "0001.jpg").size == (4 * 64, 64)  # the takes side by side, 64 px each
    page = (root / "review.html").read_text()
    # one file, nothing from a network: its script and style inside, images referenced, not inlined
    assert "<script src" not in page and "<link rel=\"stylesheet\"" not in page and "data:image" not in page
    assert set(re.findall(r"https?://[^\"'\s]+", page)) == {"http://www.w3.org/2000/svg"}  # a name, not an address
    data = page.split('<script id="review-data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data)["sentences"][2]["takes"][3]["image"] == "candidates/0002/3.png"
    assert read_review(settings, root).overrides.exists is False  # no table yet: Save makes overrides/fake.tsv

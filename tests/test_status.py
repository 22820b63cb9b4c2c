"""How far a text's run has come (machine_imagination.status): the counts from the results tree, the
pace from the jobs' timing records, the time left, the report's table and `machine-imagination status`."""
import os
import subprocess
import sys

import pytest

from machine_imagination.status import duration, record_time, text_status, timings_table


def touch(path, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))


def make_tree(root, sentences=5):
    """A run of five sentences, two candidates each, caught mid-way:
    sentence 0, 1: kept (latents); 2: both candidates written; 3: one of two; 4: nothing.
    segment 0: newer than latents 0 and 1; segment 1: older than latents 1 (an edit since)."""
    rows = ["index\tsentence\tprompt\tseed"] + [f"{i}\ts{i}\tp{i}\t{i}" for i in range(sentences)]
    root.mkdir(parents=True)
    (root / "prompts.tsv").write_text("\n".join(rows) + "\n")
    for i in (0, 1):
        touch(root / "latents" / f"{i:04d}.npz", 100 + 10 * i)
    for name in ("0002/0.npz", "0002/1.npz", "0003/0.npz"):
        touch(root / "candidates" / name, 100)
    touch(root / "segments" / "0000.mp4", 200)
    touch(root / "segments" / "0001.mp4", 105)
    for i, seconds in ((0, 10.0), (1, 30.0), (2, 20.0)):
        record_time(root, "search", i, seconds, candidates=2)
    record_time(root, "segments", 0, 2.0, frames=12)
    return root


def test_counts_follow_the_files_and_the_pace_the_records(tmp_path):
    status = text_status(make_tree(tmp_path / "results" / "poem"))
    assert (status.text, status.sentences, status.searched, status.rendered) == ("poem", 5, 3, 1)
    assert not status.film
    assert status.search_seconds == {0: 10.0, 1: 30.0, 2: 20.0} and status.render_seconds == {0: 2.0}
    # two sentences at the median 20 s, four segments at 2 s
    assert status.seconds_left == pytest.approx(2 * 20.0 + 4 * 2.0)
    assert status.describe() == ("poem: 3 of 5 sentences searched, 1 of 5 segments rendered; about 48 s left "
                                 "(20.0 s a sentence, 2.0 s a segment; one job at a time, without start-up)")


def test_time_left_waits_for_a_measurement_of_each_stage(tmp_path):
    root = make_tree(tmp_path / "poem")
    (root / "timings" / "segments" / "0000.json").unlink()
    status = text_status(root)
    assert status.seconds_left is None
    assert "time left is known once every stage has measured one" in status.describe()
    for record in (root / "timings" / "search").iterdir():
        record.unlink()
    assert text_status(root).describe().endswith("the time left is known once a sentence is searched")


def test_a_record_being_written_or_of_a_removed_sentence_is_left_out(tmp_path):
    root = make_tree(tmp_path / "poem")
    (root / "timings" / "search" / "0003.json").write_text('{"seconds": ')  # cut off
    record_time(root, "search", 9, 500.0)  # the text had ten sentences once
    status = text_status(root)
    assert status.search_seconds == {0: 10.0, 1: 30.0, 2: 20.0}


def test_the_film_counts_once_every_segment_is_current_and_older_than_it(tmp_path):
    root = make_tree(tmp_path / "poem", sentences=2)
    touch(root / "segments" / "0001.mp4", 210)
    touch(root / "film.mp4", 205)
    assert text_status(root).rendered == 2 and not text_status(root).film  # segment 1 is newer
    touch(root / "film.mp4", 220)
    status = text_status(root)
    assert status.film and status.describe().endswith("; the film is made")


def test_timings_table_has_a_row_per_sentence_and_the_totals(tmp_path):
    root = make_tree(tmp_path / "poem")
    table = root / "timings" / "timings.tsv"
    timings_table(root, table)
    lines = table.read_text().splitlines()
    assert lines[0] == "index\tsearch_seconds\trender_seconds"
    assert lines[1:] == ["0\t10.00\t2.00", "1\t30.00\t", "2\t20.00\t", "3\t\t", "4\t\t", "total\t60.00\t2.00"]
    assert text_status(root).search_seconds == {0: 10.0, 1: 30.0, 2: 20.0}, "the table is not a record"


@pytest.mark.parametrize("seconds, text", [(0.2, "1 s"), (4.4, "4 s"), (89, "89 s"), (600, "10 min"), (5400, "1 h 30 min"),
                                           (3 * 3600 + 5 * 60, "3 h 05 min")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_status_command(tmp_path):
    root = make_tree(tmp_path / "results" / "poem")
    run = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "status", str(root)],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("poem: 3 of 5 sentences searched"), run.stderr
    run = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "status", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and f"'{tmp_path}' holds no prompts.tsv" in run.stderr

import pytest

from machine_imagination.text import (
    TextError,
    check_template,
    fit_prompt,
    make_prompts,
    read_prompts_tsv,
    read_text,
    sentence_seed,
    split_text,
    write_prompts_tsv,
)


def write(tmp_path, data: bytes, name="t.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_sentences_are_split_within_paragraphs_and_hard_wraps_are_joined():
    text = "Mr. Smith went to\nWashington. He said hi!\n\nA new paragraph starts here.\n***\n"
    assert split_text(text) == ["Mr. Smith went to Washington.", "He said hi!", "A new paragraph starts here."]


def test_lines_mode_keeps_each_non_empty_line():
    poem = "The fog comes\non little cat feet.\n\n  \nIt sits looking\n"
    assert split_text(poem, "lines") == ["The fog comes", "on little cat feet.", "It sits looking"]


def test_windows_and_mac_line_endings_are_normalised(tmp_path):
    unix = write(tmp_path, b"One line.\nTwo lines.\n\nThird.\n", "unix.txt")
    windows = write(tmp_path, b"One line.\r\nTwo lines.\r\n\r\nThird.\r\n", "win.txt")
    mac = write(tmp_path, b"One line.\rTwo lines.\r\rThird.\r", "mac.txt")
    expected = [p.sentence for p in make_prompts(unix, split="lines")]
    assert [p.sentence for p in make_prompts(windows, split="lines")] == expected
    assert [p.sentence for p in make_prompts(mac, split="lines")] == expected
    assert "\r" not in read_text(windows)


def test_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path, "\ufeffHello there.".encode("utf-8"))
    assert make_prompts(path)[0].sentence == "Hello there."


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TextError, match="nope.txt.*does not exist"):
        make_prompts(tmp_path / "nope.txt")


def test_non_utf8_file_is_named_with_the_line(tmp_path):
    path = write(tmp_path, "First line.\nCaf\u00e9 au lait.\n".encode("latin-1"), "latin.txt")
    with pytest.raises(TextError, match=r"latin.txt' is not UTF-8 \(byte 0xe9 at line 2\)"):
        make_prompts(path)


@pytest.mark.parametrize("content", [b"", b"   \n\n\t\n", b"*** --- ...\n"])
def test_file_without_sentences_is_refused(tmp_path, content):
    path = write(tmp_path, content, "empty.txt")
    with pytest.raises(TextError, match="empty.txt' contains no sentence"):
        make_prompts(path)


def test_template_is_applied_and_checked(tmp_path):
    path = write(tmp_path, b"A red fox. A blue whale.")
    prompts = make_prompts(path, template="a painting of {sentence}")
    assert [p.prompt for p in prompts] == ["a painting of A red fox.", "a painting of A blue whale."]
    assert [p.sentence for p in prompts] == ["A red fox.", "A blue whale."]
    with pytest.raises(TextError, match="does not contain {sentence}"):
        check_template("a painting")
    with pytest.raises(TextError, match="not a valid template"):
        check_template("a {style} painting of {sentence}")
    check_template("{{literal}} {sentence}")


def test_seed_depends_only_on_project_seed_and_index(tmp_path):
    before = make_prompts(write(tmp_path, b"One. Two. Three.", "a.txt"), seed=7)
    after = make_prompts(write(tmp_path, b"One. Changed. Three.", "b.txt"), seed=7)
    assert [p.seed for p in before] == [p.seed for p in after]
    assert len({p.seed for p in before}) == 3
    assert sentence_seed(7, 0) != sentence_seed(8, 0)
    assert all(1 <= sentence_seed(s, i) < 2**31 for s in range(5) for i in range(50))


def test_long_prompt_truncation_is_recorded():
    from machine_imagination.models.clip import load_tokenizer

    tokenizer = load_tokenizer("ViT-B-32")  # the stock BPE tokenizer ships with open_clip: no download
    short = fit_prompt(tokenizer, "a red fox")
    assert (short.truncated, short.clip_prompt, short.tokens) == (False, "a red fox", 5)
    long = " ".join(["lighthouse"] * 100)
    fit = fit_prompt(tokenizer, long)
    assert fit.truncated and fit.tokens == 102
    assert fit.clip_prompt == " ".join(["lighthouse"] * 75)
    # CLIP's tokenizer, which the search uses, cuts the prompt at the same place.
    assert tokenizer([long])[0].tolist() == tokenizer([fit.clip_prompt])[0].tolist()


def test_prompts_tsv_round_trip_has_the_contract_columns(tmp_path):
    from machine_imagination.text import PromptFit

    prompts = make_prompts(write(tmp_path, b"A red fox.\tIt ran.\n"), template="art: {sentence}")
    fits = [PromptFit(p.prompt, 5, False) for p in prompts]
    write_prompts_tsv(prompts, fits, tmp_path / "prompts.tsv")
    rows = read_prompts_tsv(tmp_path / "prompts.tsv")
    assert [r["index"] for r in rows] == ["0", "1"]
    assert rows[1]["sentence"] == "It ran." and rows[1]["prompt"] == "art: It ran."
    assert rows[0]["seed"] == str(prompts[0].seed) and rows[0]["truncated"] == "false"


def test_weighted_template_parts_keep_the_sentence_colons_as_text(tmp_path):
    from machine_imagination.text import parse_weighted_prompt

    assert parse_weighted_prompt("a red fox:1 | blurry:-0.5") == [("a red fox", 1.0), ("blurry", -0.5)]
    assert parse_weighted_prompt("note: a fox") == [("note: a fox", 1.0)]
    path = write(tmp_path, b"He said: go home. Read John 3:16 aloud.")
    prompts = make_prompts(path, template="a painting of {sentence}:2 | blurry:-0.5", style=", in oil")
    assert prompts[0].parts == (("a painting of He said: go home., in oil", 2.0), ("blurry", -0.5))
    assert prompts[1].parts[0] == ("a painting of Read John 3:16 aloud., in oil", 2.0)
    assert prompts[0].prompt == "a painting of He said: go home., in oil:2 | blurry:-0.5"
    with pytest.raises(TextError, match="positive weight"):
        check_template("{sentence}:-1")


def test_overrides_table_changes_only_its_sentences(tmp_path):
    from machine_imagination.text import read_overrides

    text = write(tmp_path, b"One. Two. Three.")
    table = tmp_path / "overrides.tsv"
    table.write_text("index\tseed\titerations\tinitial_class\tprompt\n1\t42\t7\tred fox\ta fox, {sentence}\n2\t\t\t\t\n")
    overrides = read_overrides(table, 3)
    assert overrides == {1: {"seed": 42, "iterations": 7, "initial_class": "red fox", "prompt": "a fox, {sentence}"},
                         2: {}}
    plain, changed = make_prompts(text, seed=5), make_prompts(text, seed=5, overrides=overrides)
    assert changed[0] == plain[0] and changed[2] == plain[2]
    assert changed[1].seed == 42 and changed[1].prompt == "a fox, Two."
    assert dict(changed[1].search) == {"iterations": 7, "initial_class": "red fox"}


@pytest.mark.parametrize("content, message", [
    ("seed\n1\n", "first column is 'index'"),
    ("index\tcolour\n0\tred\n", "unknown column"),
    ("index\tseed\n7\t1\n", "line 2: index 7 is out of range"),
    ("index\tseed\n0\tabc\n", "line 2: seed 'abc' is not a whole number"),
    ("index\titerations\n0\t0\n", "line 2: iterations 0 is out of range: give 1 to 100000"),
    ("index\tseed\n0\t1\n0\t2\n", "line 3: index 0 appears twice"),
    ("index\tinitial_class\n0\tcheeseburgr\n", "did you mean: cheeseburger"),
])
def test_bad_overrides_tables_are_named_with_the_line(tmp_path, content, message):
    from machine_imagination.text import read_overrides

    table = tmp_path / "o.tsv"
    table.write_text(content)
    with pytest.raises(TextError, match=message):
        read_overrides(table, 3)


@pytest.mark.parametrize("content, message", [
    ("index\tseed\n0\t9223372036854775808\n", "line 2: seed 9223372036854775808 is out of range: give 0 to "
                                              "9223372036854775807"),
    ("index\tseed\n0\t1180591620717411303424\n", "line 2: seed 1180591620717411303424 is out of range"),
    ("index\titerations\n0\t1000000000\n", "line 2: iterations 1000000000 is out of range: give 1 to 100000"),
    ("index\tseed\n0\t5\n1\t6\t7\n", r"line 3: 3 cells, but the header names 2 columns \(extra: \['7'\]\)"),
    ("index\tprompt\n0\ta {weird} fox\n", r"line 2: prompt 'a {weird} fox' is not a valid template \('{weird}' is not"),
    ("index\tprompt\n0\t{sentence.__class__}\n", r"line 2: prompt .* \('{sentence.__class__}' is not a field"),
    ("index\tprompt\n0\ta fox:nan | a bird:1\n",
     "line 2: prompt 'a fox:nan | a bird:1': the weight of 'a fox' is 'nan'"),
    ("index\tprompt\n0\tblurry:-1\n", "line 2: prompt 'blurry:-1' has no part with a positive weight"),
    ("index\tprompt\n0\ta fox\x00\n", r"o.tsv', line 2: control character U\+0000 \(NUL\)"),
])
def test_hostile_overrides_tables_are_named_with_the_line(tmp_path, content, message):
    from machine_imagination.text import read_overrides

    table = tmp_path / "o.tsv"
    table.write_text(content)
    with pytest.raises(TextError, match=message):
        read_overrides(table, 3)


def test_trailing_empty_cells_of_an_overrides_row_are_no_extra_cells(tmp_path):
    from machine_imagination.text import read_overrides

    table = tmp_path / "o.tsv"
    table.write_text("index\tseed\n0\t5\t\t\n")  # a spreadsheet's export
    assert read_overrides(table, 3) == {0: {"seed": 5}}


@pytest.mark.parametrize("data, message", [
    ("A fox.\nA bird\x00 sings.\n".encode(), r"t.txt', line 2: control character U\+0000 \(NUL\)"),
    ("A fox.\n\x1b[2J A bird.\n".encode(), r"line 2: control character U\+001B \(ESCAPE\)"),
    ("A fox. A bird.".encode("utf-16"), r"t.txt' is UTF-16 .*`iconv -f utf-16 -t utf-8 "),
    ("A fox. A bird.".encode("utf-16-le"), r"NUL bytes throughout: is it UTF-16 without a byte-order mark"),
    (("word " * 3000).encode(), r"t.txt': sentence 0 has 14999 characters, more than the 10000"),
])
def test_hostile_text_files_are_named_with_the_line(tmp_path, data, message):
    with pytest.raises(TextError, match=message):
        make_prompts(write(tmp_path, data))


def test_a_text_path_that_is_a_directory_is_called_one(tmp_path):
    with pytest.raises(TextError, match="text file '.*' is a directory, not a file"):
        make_prompts(tmp_path)


def test_weights_must_be_finite_numbers():
    from machine_imagination.text import parse_weighted_prompt

    for weight in ("nan", "inf", "-inf", "infinity"):
        with pytest.raises(TextError, match=f"the weight of 'a fox' is '{weight}'"):
            parse_weighted_prompt(f"a fox:{weight} | a bird:1")
    with pytest.raises(TextError, match="text.template '{sentence}:nan': the weight of '{sentence}' is 'nan'"):
        check_template("{sentence}:nan")


def test_a_prompt_the_overrides_table_cannot_use_is_named_by_its_line(tmp_path):
    from machine_imagination.text import read_overrides

    table = tmp_path / "o.tsv"
    table.write_text("index\tprompt\n0\ta red fox\n1\tblurry:-1\n")
    with pytest.raises(TextError, match=r"o.tsv', line 3: prompt 'blurry:-1' has no part with a positive weight"):
        read_overrides(table, sentences=2)
    table.write_text("index\tprompt\n0\ta {colour} fox\n")  # filled in like a template: it crashed the run
    with pytest.raises(TextError, match=r"line 2: prompt 'a \{colour\} fox' is not a valid template \('\{colour\}' is not a field"):
        read_overrides(table, sentences=2)
    table.write_text("index\tprompt\n0\ta {{curly}} fox\n")
    assert read_overrides(table, sentences=2) == {0: {"prompt": "a {{curly}} fox"}}
    table.write_text("index\tprompt\n1\t{sentence}:-1 | a fox\n")
    with pytest.raises(TextError, match=r"line 2: prompt '\{sentence\}:-1 \| a fox': \{sentence\} must be in"):
        read_overrides(table, sentences=2)


def test_an_overrides_table_error_names_the_files_own_line_blank_lines_counted(tmp_path):
    from machine_imagination.text import read_overrides

    table = tmp_path / "o.tsv"
    table.write_text("index\tseed\n\n0\t7\n\n\n1\tseven\n")
    with pytest.raises(TextError, match=r"o.tsv', line 6: seed 'seven' is not a whole number"):
        read_overrides(table, sentences=2)

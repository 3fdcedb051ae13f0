from pathlib import Path

import pytest

from curate import load
from curate.catalog import SourceSpec
from curate.errors import CurateError

FIX = Path(__file__).parent / "fixtures" / "foundation"


def spec(file: str, **fields) -> SourceSpec:
    return SourceSpec(name="t", kind="pair", license="x", formal_lang="lean4", path=str(FIX / file),
                      fields=fields or {"informal": "q", "formal": "f", "id": "{n?}"})


def test_jsonl_pairs_load_into_records():
    ds, report = load.load_with_report(spec("pairs.jsonl"))
    assert len(ds) == 2 and report.records == 2 and not report.skipped
    assert ds[0]["kind"] == "pair" and ds[0]["id"] == "a" and ds[0]["formal_lang"] == "lean4"
    assert "pairs.jsonl:1" in ds[0]["meta"]


@pytest.mark.parametrize("file", ["pairs.csv", "pairs.parquet"])
def test_csv_and_parquet_load(file, isolated_cache):
    ds = load.load_with_report(spec(file, informal="q", formal="f"))[0]
    assert len(ds) == 1 and ds[0]["formal"].startswith("theorem")


@pytest.mark.parametrize(
    "file,message",
    [("malformed.jsonl", "malformed.jsonl:2: malformed JSON"),
     ("missing_field.jsonl", "missing_field.jsonl:2: mapped field 'q' missing"),
     ("bad_utf8.jsonl", "bad_utf8.jsonl:2: not valid UTF-8"),
     ("empty.jsonl", "has no records"),
     ("nowhere.jsonl", "not found at")],
)
def test_bad_input_is_one_line_error(file, message):
    with pytest.raises(CurateError) as exc:
        load.load_with_report(spec(file))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_templates_optional_fields_and_file_stem():
    row = {"a": "x", "b": ["p", {"k": "q"}]}
    assert load.fill("a", row) == "x"
    assert load.fill("{a}-{b}", row) == "x-p\nq"
    assert load.fill("{a}{c?}|{__file__}", row, "test") == "x|test"
    with pytest.raises(load.MissingField):
        load.fill("{c}", row)


def test_cleaners():
    assert load.CLEANERS["doc_comment"]("/-- Prove $x$.-/\n") == "Prove $x$."
    assert load.CLEANERS["before_proof"]("Claim.\n\\begin{proof}Easy.\\end{proof}") == "Claim."


def test_one_sided_pairs_are_counted_not_dropped_silently(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"q": "a", "f": "b"}\n{"q": "", "f": "c"}\n{"q": "", "f": ""}\n')
    ds, report = load.load_with_report(SourceSpec(name="t", kind="pair", license="x", path=str(f),
                                                  fields={"informal": "q", "formal": "f"}))
    assert len(ds) == 1
    assert report.skipped == {"pair with one side empty": 1, "empty text": 1}


def test_fingerprint_tracks_content():
    ds = load.load_with_report(spec("pairs.jsonl"))[0]
    assert load.fingerprint(ds) == load.fingerprint(ds)
    assert load.fingerprint(ds) != load.fingerprint(ds.select([0]))


class _SameHash(str):
    def __hash__(self) -> int:  # every id collides: SeenIds must tell them apart by their bytes
        return 7


@pytest.mark.parametrize("make", [str, _SameHash])
def test_seen_ids_count_exactly_like_a_counter(make):
    import random
    from collections import Counter

    rng = random.Random(0)
    n = 300 if make is _SameHash else 20_000  # past several table growths
    ids = [make(f"r{rng.randrange(n // 2)}") for _ in range(n)] + [make(x) for x in ("", "é", "\ud800", "r1#2")] * 2
    seen, want = load.SeenIds(), Counter()
    got = [seen.add(i) for i in ids]
    assert got == [want.update([i]) or want[i] for i in ids]
    assert len(seen) == len(want)


def test_repeated_ids_are_renamed_in_order(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("".join(f'{{"n": "{i}", "q": "text {k}"}}\n' for k, i in enumerate("abaacb")))
    rows = list(load.iter_records(SourceSpec(name="t", kind="informal", license="x", path=str(f),
                                             fields={"informal": "q", "id": "n"}), load.LoadReport("t")))
    assert [r["id"] for r in rows] == ["a", "b", "a#2", "a#3", "c", "b#2"]

import pytest

from curate.records import Record, RenderConfig, render


def test_pair_renders_in_the_papers_format():
    r = Record(id="1", source="s", kind="pair", informal="Show x.", formal="theorem x : True := trivial")
    assert render(r) == "informal statement Show x. formal statement theorem x : True := trivial"


def test_render_template_is_configurable():
    r = Record(id="1", source="s", kind="pair", informal="A", formal="B")
    assert render(r, RenderConfig(pair_template="/-- {informal} -/\n{formal}")) == "/-- A -/\nB"


@pytest.mark.parametrize(
    "kind,informal,formal,expected",
    [("formal", None, "lemma a : 1 = 1", "lemma a : 1 = 1"), ("informal", "Prove it.", None, "Prove it."),
     ("code", "Add two numbers.", "def f(a, b): return a + b", "Add two numbers.\ndef f(a, b): return a + b"),
     ("text", " hello ", None, "hello")],
)
def test_other_kinds_render_their_text(kind, informal, formal, expected):
    assert render(Record(id="1", source="s", kind=kind, informal=informal, formal=formal)) == expected


def test_row_round_trip_keeps_meta():
    r = Record(id="x", source="s", kind="formal", formal="f", formal_lang="lean4", split="test", meta={"line": 3})
    row = r.to_row()
    assert isinstance(row["meta"], str)
    assert Record.from_row(row) == r
    assert render(row) == render(r)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError):
        Record(id="1", source="s", kind="poem")

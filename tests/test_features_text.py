"""The tokenizer and the pin text template: pure Python, hand-computed expectations."""

from __future__ import annotations

import pytest

from features.text_template import PARTS, TEMPLATE_VERSION, render_pin_text, truncate_parts, truncate_words
from features.tokenizer import stopwords_for, tokenize


def test_tokenize_normalises_strips_and_drops_stop_words_and_numbers():
    text = "Ｒｅｄ Chair 🎉 for the Living-Room, 12 x 2x4 ½ CAFÉ Straße!!"
    # NFKC folds the full-width letters and ½; casefold maps ß to ss; "for", "the" are
    # English stop words, "room" too (stopwords-iso); "12" and "½" are bare numbers;
    # "x" is shorter than 2 characters.
    assert tokenize(text, "en") == ["red", "chair", "living", "2x4", "café", "strasse"]


def test_tokenize_uses_the_text_language_and_defaults_to_the_main_languages():
    assert tokenize("Die rote Küche mit Holztisch", "de") == ["rote", "küche", "holztisch"]
    # "die" is an English word, so an English text keeps it …
    assert tokenize("Die rote Küche mit Holztisch", "en") == ["die", "rote", "küche", "mit", "holztisch"]
    # … and without a language tag every default language's stop words apply.
    assert tokenize("Die rote Küche mit Holztisch") == ["rote", "küche", "holztisch"]
    assert tokenize("la maison de campagne", "fr-FR") == ["maison", "campagne"]
    assert "door" in tokenize("front door")  # a Dutch stop word, but Dutch is not a default


def test_tokenize_edge_cases():
    assert tokenize(None) == []
    assert tokenize("") == []
    assert tokenize("!!! ... 🎉🎉") == []
    assert tokenize("kitchen kitchen", "en") == ["kitchen", "kitchen"]  # counts are the caller's business
    assert tokenize("ab a", "en", min_len=3) == []
    assert tokenize("gray-blue", "en") == ["gray", "blue"]
    assert tokenize("red chair", "xx") == tokenize("red chair")  # unknown language -> defaults
    assert "home" in stopwords_for("en")


def test_truncate_words_collapses_whitespace():
    assert truncate_words("  a  b\tc\nd ", 3) == "a b c"
    assert truncate_words("a b", 5) == "a b"
    assert truncate_words(None, 3) == ""
    assert truncate_words("a b", 0) == ""


def test_render_marks_orders_and_omits_empty_parts():
    parts = {
        "link_text": "How to paint",
        "title": "Red  chair",
        "description": "",
        "caption": None,
        "query_tokens": "red chair",
        "board_tokens": "kitchen",
    }
    assert TEMPLATE_VERSION == "v1"
    assert PARTS == ("title", "description", "caption", "query_tokens", "board_tokens", "link_text")
    assert render_pin_text(parts) == (
        "title: Red chair | searches: red chair | boards: kitchen | link: How to paint"
    )
    # A subset renders in template order whatever order it is asked in.
    assert render_pin_text(parts, include=["board_tokens", "title"]) == "title: Red chair | boards: kitchen"
    assert render_pin_text({}, include=None) == ""
    assert render_pin_text({"link_text": "Chairs | Shop"}) == "link: Chairs / Shop"
    with pytest.raises(ValueError, match="unknown pin text part"):
        render_pin_text(parts, include=["titel"])


def test_truncate_parts_applies_each_budget_so_no_part_crowds_out_the_others():
    long = " ".join(f"w{i}" for i in range(100))
    budgets = {"title": 2, "description": 3, "caption": 1, "query_tokens": 2, "board_tokens": 1, "link_text": 2}
    parts = truncate_parts(
        {"title": long, "description": long, "caption": "a small dog", "query_tokens": "q1 q2 q3", "board_tokens": None,
         "link_text": long},
        budgets,
    )
    assert parts == {
        "title": "w0 w1", "description": "w0 w1 w2", "caption": "a", "query_tokens": "q1 q2",
        "board_tokens": "", "link_text": "w0 w1",
    }
    assert render_pin_text(parts) == (
        "title: w0 w1 | description: w0 w1 w2 | image: a | searches: q1 q2 | link: w0 w1"
    )

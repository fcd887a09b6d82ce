"""The versioned template that turns a pin's parts into the teacher's pin text.

The parts are stored (already cut to their budgets) next to the rendered text in
features/pin_text, so the teacher can re-render any subset of them with
`render_pin_text(parts, include=...)` for the enriched-text ablation and get
exactly the text the full template would have produced for those parts.

Template v1: parts in the fixed order of `PARTS`, each marked with its label
(`title: … | description: …`), empty parts left out, whitespace collapsed,
a `|` inside a part written as `/`.
A budget is a count of whitespace-separated words: model-agnostic, so the same
pin text serves every teacher backbone, and cheap to apply in Spark.
Changing the order, the labels or the separator means a new TEMPLATE_VERSION.
"""

from __future__ import annotations

from typing import Mapping, Sequence

TEMPLATE_VERSION = "v1"

PARTS: tuple[str, ...] = ("title", "description", "caption", "query_tokens", "board_tokens", "link_text")

LABELS: dict[str, str] = {
    "title": "title",
    "description": "description",
    "caption": "image",
    "query_tokens": "searches",
    "board_tokens": "boards",
    "link_text": "link",
}

SEPARATOR = " | "


def normalise_space(text: str | None) -> str:
    """One space between words, none at the ends; None becomes ''."""
    return " ".join(text.split()) if text else ""


def truncate_words(text: str | None, budget: int) -> str:
    """The first `budget` words of `text`, whitespace collapsed."""
    if budget <= 0:
        return ""
    return " ".join((text or "").split()[:budget])


def truncate_parts(parts: Mapping[str, str | None], budgets: Mapping[str, int]) -> dict[str, str]:
    """Every part of PARTS cut to its budget (a part without a budget is kept whole)."""
    out: dict[str, str] = {}
    for name in PARTS:
        value = parts.get(name)
        out[name] = truncate_words(value, budgets[name]) if name in budgets else normalise_space(value)
    return out


def render_pin_text(parts: Mapping[str, str | None], include: Sequence[str] | None = None) -> str:
    """Render the parts named in `include` (all by default) in template order.

    Unknown names in `include` are an error rather than silently ignored, so a
    typo in an ablation config does not train on less text than intended.
    """
    chosen = PARTS if include is None else tuple(include)
    unknown = [name for name in chosen if name not in PARTS]
    if unknown:
        raise ValueError(f"unknown pin text part(s) {unknown}; known: {list(PARTS)}")
    pieces = []
    for name in PARTS:
        if name not in chosen:
            continue
        # A '|' inside a part (link titles like "Chairs | Shop") would read as a part boundary.
        value = normalise_space(parts.get(name)).replace("|", "/")
        if value:
            pieces.append(f"{LABELS[name]}: {value}")
    return SEPARATOR.join(pieces)

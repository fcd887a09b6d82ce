"""The small, slowly changing things of the world: pins, queries, users and boards.

They are built on the driver with numpy generators seeded from the world seed
(one generator per entity kind, so adding queries does not reshuffle pins):
even the large world has only a few hundred thousand of them. Everything that
grows with traffic (events, saves, labels, impressions) is generated in Spark
from these tables in `simulation.traffic`.

Each entity keeps its hidden concept in integer columns (category, object,
family, a0..a2; -1 = unspecified) next to the text written from it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from simulation import catalog as C
from simulation.scales import Scale

# A pin's concept and hidden traits packed into one long, so that Spark can
# carry candidate pins around in plain arrays: see `unpack` in simulation.traffic.
CODE_PIN = 10**8
CODE_BAIT = 10**7
CODE_LINK = 10**6
CODE_OBJ = 10**3

# Set against the paper's enriched-text ablation (title + description reach 48.9 of the full
# teacher's 56.6 accuracy, a ratio of 0.86). While retrieval ignored language, 54% of the small
# world's pairs put a query and a pin of different languages together, which an English-only
# teacher cannot bridge from a title, and the ratio was 0.69 (0.407 of 0.592). With retrieval
# serving mostly the query's language (simulation.traffic.SAME_LANGUAGE) it is 0.81 (0.489 of
# 0.601; README, "The simulated search world"; bench/teacher_quality.py `by_pair_language`).
TITLE_QUALITY = (("good", 0.50), ("partial", 0.25), ("generic", 0.12), ("empty", 0.08), ("misleading", 0.05))
DESCRIPTION_QUALITY = (("detailed", 0.35), ("category", 0.20), ("generic", 0.15), ("empty", 0.30))
IMAGE_STATUS = (("ok", 0.97), ("corrupt", 0.015), ("missing", 0.015))
LINK_ON_TOPIC = 0.8


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = [o for o, _ in options]
    weights = np.array([w for _, w in options])
    return np.array(names, dtype=object)[rng.choice(len(names), size=n, p=weights / weights.sum())]


def pin_id(idx: int) -> str:
    return f"p{idx:07d}"


def _word(words: C.Words, lang: str) -> str:
    return words[C.lang_index(lang)]


def _attr_words(category: int, attrs: list[int], lang: str, slots: list[int]) -> list[str]:
    vocab = C.attribute_slots(category)
    return [_word(vocab[s][1][attrs[s]], lang) for s in slots if attrs[s] >= 0]


def misspell(text: str, rng: np.random.Generator) -> str:
    """One typo in one longer word: a dropped, doubled or swapped letter."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 4]
    if not long:
        return text
    i = long[rng.integers(len(long))]
    w = words[i]
    j = int(rng.integers(1, len(w) - 1))
    op = rng.integers(3)
    if op == 0:
        w = w[:j] + w[j + 1:]
    elif op == 1:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1:]
    words[i] = w
    return " ".join(words)


def make_pins(scale: Scale, seed: int, start_ds: str) -> pd.DataFrame:
    """Pins with hidden concepts and weak, generic, missing or misleading text, as real pins have."""
    rng = _rng(seed, 1)
    objs = C.objects()
    n = scale.pins
    cat_w = np.array([c.weight for c in C.CATEGORIES])
    cats = rng.choice(len(C.CATEGORIES), size=n, p=cat_w / cat_w.sum())
    by_cat = {c: [o.idx for o in objs if o.category == c] for c in range(len(C.CATEGORIES))}
    obj = np.array([by_cat[c][rng.integers(len(by_cat[c]))] for c in cats])
    # every object gets at least one pin, so every retrieval pool is non-empty
    k = min(n, len(objs))
    obj[:k] = rng.permutation(len(objs))[:k]
    cats = np.array([objs[o].category for o in obj])
    attrs = np.stack(
        [np.array([int(rng.integers(len(C.attribute_slots(c)[s][1]))) for c in cats]) for s in range(3)], axis=1
    )
    langs = np.array(C.LANGS, dtype=object)[rng.choice(len(C.LANGS), size=n, p=C.LANG_WEIGHTS)]
    title_q = _choice(rng, TITLE_QUALITY, n)
    desc_q = _choice(rng, DESCRIPTION_QUALITY, n)
    image_status = _choice(rng, IMAGE_STATUS, n)
    link_ok = (rng.random(n) < LINK_ON_TOPIC).astype(int)
    bait = rng.binomial(9, 0.5, size=n)
    start = dt.date.fromisoformat(start_ds)
    created = [(start - dt.timedelta(days=int(d))).isoformat() for d in rng.integers(1, 400, size=n)]

    rows = []
    for i in range(n):
        o, c, lang, a = objs[obj[i]], int(cats[i]), str(langs[i]), [int(x) for x in attrs[i]]
        name = _word(o.words, lang)
        full = C.phrase(lang, name, _attr_words(c, a, lang, [2, 0, 1]))
        cat_word = _word(C.CATEGORIES[c].words, lang)
        tq = title_q[i]
        if tq == "good":
            title = full
        elif tq == "partial":
            slots = [] if rng.random() < 0.4 else [int(rng.integers(3))]
            title = C.phrase(lang, name, _attr_words(c, a, lang, slots))
        elif tq == "generic":
            title = str(rng.choice(C.GENERIC_TITLES[lang]))
        elif tq == "empty":
            title = None if rng.random() < 0.3 else ""
        else:  # misleading: clickbait written for some other thing
            other = objs[int(rng.integers(len(objs)))]
            title = C.phrase(lang, _word(other.words, lang), [])
        dq = desc_q[i]
        if dq == "detailed":
            template = str(rng.choice(C.DESCRIPTION_TEMPLATES[lang]))
            some = C.phrase(lang, name, _attr_words(c, a, lang, [s for s in range(3) if rng.random() < 0.6]))
            description = template.format(phrase=some, category=cat_word)
        elif dq == "category":
            description = C.CATEGORY_IDEAS[lang].format(cat_word)
        elif dq == "generic":
            description = str(rng.choice(C.GENERIC_DESCRIPTIONS[lang]))
        else:
            description = None if rng.random() < 0.5 else ""
        shop = C.SHOPS[C.CATEGORIES[c].key]
        if link_ok[i]:
            link_title = f"{full} | {shop}"
            link_description = str(rng.choice(C.DESCRIPTION_TEMPLATES[lang])).format(phrase=full, category=cat_word)
        else:
            link_title, link_description = C.OFF_TOPIC_PAGES[int(rng.integers(len(C.OFF_TOPIC_PAGES)))]
        rows.append((title, description, f"https://{shop}.example/p/{o.key}-{i}", lang, link_title, link_description))

    text = pd.DataFrame(rows, columns=["title", "description", "link_url", "lang", "link_title", "link_description"])
    code = (np.arange(n, dtype=np.int64) * CODE_PIN + bait * CODE_BAIT + link_ok * CODE_LINK + obj * CODE_OBJ
            + attrs[:, 0] * 100 + attrs[:, 1] * 10 + attrs[:, 2])
    return pd.DataFrame({
        "pin_idx": np.arange(n, dtype=np.int64),
        "pin_id": [pin_id(i) for i in range(n)],
        **{col: text[col] for col in ["title", "description", "link_url", "lang"]},
        "created_ds": created,
        "category": cats.astype(np.int32),
        "object": obj.astype(np.int32),
        "family": np.array([objs[o].family for o in obj], dtype=np.int32),
        "a0": attrs[:, 0].astype(np.int32), "a1": attrs[:, 1].astype(np.int32), "a2": attrs[:, 2].astype(np.int32),
        "title_quality": title_q.astype(str),
        "description_quality": desc_q.astype(str),
        "image_status": image_status.astype(str),
        "link_on_topic": link_ok.astype(bool),
        "link_title": text["link_title"],
        "link_description": text["link_description"],
        "code": code.astype(np.int64),
    })


SPECIFICITY = (("category", 0.15), ("object", 0.35), ("object+1", 0.30), ("object+2", 0.15), ("object+3", 0.05))
MISSPELL_RATE = 0.08


def make_queries(scale: Scale, seed: int) -> pd.DataFrame:
    """Distinct query strings of varying specificity, language and spelling, each with its concept."""
    rng = _rng(seed, 2)
    objs = C.objects()
    cat_w = np.array([c.weight for c in C.CATEGORIES])
    seen: set[str] = set()
    rows = []
    attempts = 0
    while len(rows) < scale.queries and attempts < scale.queries * 50:
        attempts += 1
        c = int(rng.choice(len(C.CATEGORIES), p=cat_w / cat_w.sum()))
        lang = str(C.LANGS[rng.choice(len(C.LANGS), p=C.LANG_WEIGHTS)])
        spec = str(_choice(rng, SPECIFICITY, 1)[0])
        a = [-1, -1, -1]
        cat_objs = [o for o in objs if o.category == c]
        if spec == "category":
            o_idx, fam = -1, -1
            if rng.random() < 0.4:
                a[2] = int(rng.integers(len(C.attribute_slots(c)[2][1])))
            cat_word = _word(C.CATEGORIES[c].words, lang)
            text = C.CATEGORY_IDEAS[lang].format(" ".join(_attr_words(c, a, lang, [2]) + [cat_word]))
        else:
            o = cat_objs[int(rng.integers(len(cat_objs)))]
            o_idx, fam = o.idx, o.family
            n_attr = 0 if spec == "object" else int(spec[-1])
            for s in rng.permutation(3)[:n_attr]:
                a[int(s)] = int(rng.integers(len(C.attribute_slots(c)[int(s)][1])))
            text = C.phrase(lang, _word(o.words, lang), _attr_words(c, a, lang, [2, 0, 1]))
        misspelled = bool(rng.random() < MISSPELL_RATE)
        if misspelled:
            text = misspell(text, rng)
        text = text.lower()
        if text in seen:
            continue
        seen.add(text)
        rows.append((len(rows), text, lang, c, o_idx, fam, a[0], a[1], a[2], spec, misspelled))
    df = pd.DataFrame(rows, columns=["q_idx", "query", "lang", "category", "object", "family", "a0", "a1", "a2",
                                     "specificity", "misspelled"])
    for col in ["category", "object", "family", "a0", "a1", "a2"]:
        df[col] = df[col].astype(np.int32)
    df["q_idx"] = df["q_idx"].astype(np.int64)
    return df


def make_boards(scale: Scale, seed: int) -> pd.DataFrame:
    """Boards of users, each about a category or an object, titled the way people title boards."""
    rng = _rng(seed, 3)
    objs = C.objects()
    cat_w = np.array([c.weight for c in C.CATEGORIES])
    rows = []
    for u in range(scale.users):
        lang = str(C.LANGS[rng.choice(len(C.LANGS), p=C.LANG_WEIGHTS)])
        interests = rng.choice(len(C.CATEGORIES), size=2, replace=False, p=cat_w / cat_w.sum())
        n_boards = int(rng.integers(1, max(2, round(2 * scale.boards_per_user))))
        for _ in range(n_boards):
            c = int(interests[rng.integers(2)])
            cat_objs = [o for o in objs if o.category == c]
            o = cat_objs[int(rng.integers(len(cat_objs)))] if rng.random() < 0.5 else None
            colour = int(rng.integers(10)) if rng.random() < 0.2 else -1
            r = rng.random()
            cat_word = _word(C.CATEGORIES[c].words, lang)
            if r < 0.45 and o is not None:
                words = [_word(C.attribute_slots(c)[0][1][colour], lang)] if colour >= 0 else []
                title = C.phrase(lang, _word(o.words, lang), words)
            elif r < 0.7:
                title = cat_word if rng.random() < 0.5 else C.CATEGORY_IDEAS[lang].format(cat_word)
            else:
                title = str(rng.choice(C.GENERIC_BOARD_TITLES[lang]))
            if rng.random() < 0.3:
                title = title.capitalize() + str(rng.choice(["", "!", " <3", " 2025", " ✨"]))
            pool = f"o{o.idx}" if o is not None else f"c{c}"
            rows.append((len(rows), f"b{len(rows):07d}", f"u{u:06d}", title, lang, c,
                         -1 if o is None else o.idx, colour, pool))
    df = pd.DataFrame(rows, columns=["b_idx", "board_id", "user_id", "board_title", "lang", "category", "object",
                                     "a0", "pool_key"])
    df["b_idx"] = df["b_idx"].astype(np.int64)
    for col in ["category", "object", "a0"]:
        df[col] = df[col].astype(np.int32)
    return df


def make_pools(pins: pd.DataFrame) -> pd.DataFrame:
    """Candidate pools for retrieval: pin codes per object (o), family (f) and category (c).

    Each pool also comes in one variant per language (`o12@de`): the pins of that key in that
    language, or, where there are none, the whole pool, so that a language-first draw always
    finds candidates and a row is never lost in the join.
    """
    parts = []
    for prefix, col in (("o", "object"), ("f", "family"), ("c", "category")):
        grouped = pins.groupby(col)["code"].apply(lambda s: [int(x) for x in sorted(s)])
        parts.append(pd.DataFrame({"pool_key": [f"{prefix}{k}" for k in grouped.index], "codes": list(grouped)}))
        by_lang = pins.groupby([col, "lang"])["code"].apply(lambda s: [int(x) for x in sorted(s)]).to_dict()
        keys, codes = [], []
        for k, everyone in grouped.items():
            for lang in C.LANGS:
                keys.append(f"{prefix}{k}@{lang}")
                codes.append(by_lang.get((k, lang)) or everyone)
        parts.append(pd.DataFrame({"pool_key": keys, "codes": codes}))
    return pd.concat(parts, ignore_index=True)

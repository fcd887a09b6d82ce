"""What a teacher's test scores are read against: the majority and the ceiling, the word-overlap
bar, and the accuracy by what a simulated world hid from the text (bench/teacher_quality.py).
"""

from __future__ import annotations

from typing import Any


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The test metrics a run keeps: the headline figures, and per level its recall and predicted share."""
    keep = ("n", "accuracy", "quadratic_weighted_kappa", "macro_f1", "ndcg_at_10", "rmse_original_scale",
            "levels_never_predicted", "by_language", "decodings", "decoding", "expected_calibration_error")
    out = {k: report[k] for k in keep if k in report}
    out["per_level"] = {lvl: {"recall": round(v["recall"], 4), "predicted_share": round(v["predicted_share"], 4),
                              "support": v["support"]} for lvl, v in report.get("per_class", {}).items()}
    return out


def reference_rows(frame) -> dict[str, Any]:
    """Majority class on the test split, and the human labels against the hidden truth (the ceiling)."""
    import numpy as np

    from modeling.metrics import classification_metrics
    from modeling.ordinal import quadratic_kappa
    from features.splits import TEST, TRAIN

    train, test = frame[frame["split"] == TRAIN], frame[frame["split"] == TEST]
    majority = int(train["label"].value_counts().idxmax())
    y = test["label"].to_numpy()
    pred = np.full(len(y), majority)
    out: dict[str, Any] = {"majority": {"label": majority, "accuracy": float((pred == y).mean()),
                                        "quadratic_weighted_kappa": quadratic_kappa(y, pred)}}
    if "true_relevance" in test and test["true_relevance"].notna().all():
        truth = test["true_relevance"].to_numpy(dtype=int)
        probs = np.eye(5)[y - 1]
        m = classification_metrics(truth, probs)
        out["ceiling"] = {"what": "human labels scored against the world's true relevance (test split)",
                          "accuracy": m["accuracy"], "quadratic_weighted_kappa": m["quadratic_weighted_kappa"],
                          "macro_f1": m["macro_f1"]}
    return out


def lexical_lookup(frame, parts: list[str]) -> float:
    """Test accuracy of a lookup table from word overlap to the most common training label.

    The bar a teacher on these parts must clear to have learnt more than shared words:
    each pair is binned by (share of query words found in the parts, words found, query
    words), and a bin predicts its most frequent training label (unseen bins: the majority).
    """
    import re

    from features.splits import TEST, TRAIN

    def words(text) -> set[str]:
        return set(re.findall(r"\w+", str(text or "").lower()))

    columns = [f"part_{p}" for p in parts if f"part_{p}" in frame]
    def key(row) -> str:
        query = words(row["query"])
        found = len(query & set().union(*(words(row[c]) for c in columns)))
        return f"{round(4 * found / max(len(query), 1))}-{min(found, 3)}-{min(len(query), 4)}"

    bins = frame.apply(key, axis=1)
    train, test = frame["split"] == TRAIN, frame["split"] == TEST
    table = frame.loc[train, "label"].groupby(bins[train]).agg(lambda s: s.value_counts().idxmax())
    majority = frame.loc[train, "label"].value_counts().idxmax()
    predicted = bins[test].map(table).fillna(majority)
    return round(float((predicted == frame.loc[test, "label"]).mean()), 4)


def breakdown(test, predicted) -> dict[str, Any]:
    """Test accuracy by what a simulated world hid: the title's quality, the query and pin in one language or not."""
    import numpy as np

    out: dict[str, Any] = {}
    hit = np.asarray(predicted) == test["label"].to_numpy()
    if "title_quality" in test:
        out["by_title_quality"] = {str(q): {"n": int(m.sum()), "accuracy": round(float(hit[m].mean()), 4)}
                                   for q in sorted(test["title_quality"].dropna().unique())
                                   for m in [(test["title_quality"] == q).to_numpy()]}
    if "pin_lang" in test:
        same = (test["lang"] == test["pin_lang"]).to_numpy()
        out["by_pair_language"] = {name: {"n": int(m.sum()), "accuracy": round(float(hit[m].mean()), 4)}
                                   for name, m in (("same", same), ("different", ~same)) if m.any()}
    return out

#!/usr/bin/env python3
"""The baseline kujo's Japanese sentiment models are compared with: TF-IDF
(character n-grams, optionally with word pieces) and a linear classifier
(logistic regression or a linear SVM) from scikit-learn, tuned by 5-fold
cross-validation on train.tsv only; the tuned pipeline is refitted on all of
train and scored once on dev.tsv, which took part in no choice.

Not needed to build or test kujo (Debian: apt-get install python3-sklearn).
    models/baseline.py ../shared/data/ja-hotel-reviews sentiment
prints one JSON object: the grid, the best CV setting and score, and the
dev accuracy / macro-F1 of the refitted best pipeline.
"""
import csv
import json
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC


def read(path, label):
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row[label]:
                texts.append(row["text"])
                labels.append(row[label])
    return texts, labels


def main():
    folder, label = sys.argv[1], sys.argv[2]
    xt, yt = read(folder + "/train.tsv", label)
    xd, yd = read(folder + "/dev.tsv", label)
    pipe = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char", sublinear_tf=True)),
        ("clf", LogisticRegression(max_iter=2000)),
    ])
    grid = [
        {
            "tfidf__ngram_range": [(1, 3), (1, 4), (2, 5)],
            "tfidf__min_df": [1, 2],
            "clf": [LogisticRegression(max_iter=2000)],
            "clf__C": [1, 3, 10, 30],
            "clf__class_weight": [None, "balanced"],
        },
        {
            "tfidf__ngram_range": [(1, 3), (1, 4), (2, 5)],
            "tfidf__min_df": [1, 2],
            "clf": [LinearSVC()],
            "clf__C": [0.1, 0.3, 1],
            "clf__class_weight": [None, "balanced"],
        },
    ]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
    search = GridSearchCV(pipe, grid, cv=cv, scoring="accuracy", n_jobs=1)
    search.fit(xt, yt)
    pred = search.best_estimator_.predict(xd)
    best = {k: (str(v) if k == "clf" else v)
            for k, v in search.best_params_.items()}
    print(json.dumps({
        "data": folder,
        "label": label,
        "train_rows": len(xt),
        "dev_rows": len(xd),
        "settings_tried": len(search.cv_results_["params"]),
        "best": best,
        "cv_accuracy": round(search.best_score_, 4),
        "dev_accuracy": round(accuracy_score(yd, pred), 4),
        "dev_macro_f1": round(f1_score(yd, pred, average="macro"), 4),
    }, default=str))


if __name__ == "__main__":
    main()

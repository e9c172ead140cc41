import json
import os

PARAMETERS = "/mlcommons/volumes/parameters/parameters_file.yaml"
PREDICTIONS = "/mlcommons/volumes/predictions"
LABELS = "/mlcommons/volumes/labels"
OUT = "/mlcommons/volumes/results/results.yaml"


def auc(scores, labels):
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not pos or not neg:
        return 0.0
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


if __name__ == "__main__":
    with open(PARAMETERS) as f:
        threshold = float(f.read().split(":", 1)[1])
    with open(os.path.join(PREDICTIONS, "predictions.json")) as f:
        predictions = json.load(f)["predictions"]
    scores, labels = [], []
    for case, score in sorted(predictions.items()):
        with open(os.path.join(LABELS, case + ".txt")) as f:
            labels.append(int(f.read()))
        scores.append(score)
    correct = sum((s >= threshold) == (y == 1) for s, y in zip(scores, labels, strict=True))
    with open(OUT, "w") as f:
        f.write(f"AUC: {auc(scores, labels)!r}\nAccuracy: {correct / len(labels)!r}\n")

import sys

from common import cases

DATA = "/mlcommons/volumes/data"
LABELS = "/mlcommons/volumes/labels"

if __name__ == "__main__":
    data, labels = cases(DATA), cases(LABELS)
    if not data or data != labels:
        sys.exit(f"data and labels do not match: {data} vs {labels}")
    print(f"{len(data)} cases, each with a label")

import os

from common import cases, read_numbers

DATA = "/mlcommons/volumes/data"
LABELS = "/mlcommons/volumes/labels"
OUT = "/mlcommons/volumes/statistics/statistics.yaml"

if __name__ == "__main__":
    names = cases(DATA)
    positives = sum(int(read_numbers(os.path.join(LABELS, c + ".txt"))[0]) for c in names)
    with open(OUT, "w") as f:
        f.write(f"num_cases: {len(names)}\npositive: {positives}\n")

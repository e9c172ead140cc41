import os

from common import cases, read_numbers, read_parameters

PARAMETERS = "/mlcommons/volumes/parameters/parameters_file.yaml"
RAW_DATA = "/mlcommons/volumes/raw_data"
RAW_LABELS = "/mlcommons/volumes/raw_labels"
DATA = "/mlcommons/volumes/data"
LABELS = "/mlcommons/volumes/labels"

if __name__ == "__main__":
    scale = read_parameters(PARAMETERS)["scale"]
    for case in cases(RAW_DATA):
        pixels = [round(x * scale, 6) for x in read_numbers(os.path.join(RAW_DATA, case + ".txt"))]
        with open(os.path.join(DATA, case + ".txt"), "w") as f:
            f.write(" ".join(repr(x) for x in pixels) + "\n")
        label = int(read_numbers(os.path.join(RAW_LABELS, case + ".txt"))[0])
        with open(os.path.join(LABELS, case + ".txt"), "w") as f:
            f.write(f"{label}\n")
        print(f"prepared {case}")

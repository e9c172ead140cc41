import json
import math
import os

PARAMETERS = "/mlcommons/volumes/parameters/parameters_file.yaml"
DATA = "/mlcommons/volumes/data"
ADDITIONAL = "/mlcommons/volumes/additional_files"
OUT = "/mlcommons/volumes/predictions/predictions.json"


def read_parameters(path):
    params = {}
    with open(path) as f:
        for line in f:
            if ":" in line:
                key, value = line.split(":", 1)
                params[key.strip()] = float(value)
    return params


if __name__ == "__main__":
    params = read_parameters(PARAMETERS)
    # Extra weights, when the model owner ships any; the folder is there either way.
    extra = sorted(os.listdir(ADDITIONAL))
    shift = 0.0
    if "shift.txt" in extra:
        with open(os.path.join(ADDITIONAL, "shift.txt")) as f:
            shift = float(f.read())
    predictions = {}
    for name in sorted(os.listdir(DATA)):
        with open(os.path.join(DATA, name)) as f:
            pixels = [float(x) for x in f.read().split()]
        z = params["weight"] * sum(pixels) / len(pixels) + params["bias"] + shift
        predictions[name[: -len(".txt")]] = round(1 / (1 + math.exp(-z)), 6)
    with open(OUT, "w") as f:
        json.dump({"predictions": predictions, "additional_files": extra}, f, indent=1)

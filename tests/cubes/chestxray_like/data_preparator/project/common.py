"""Shared helpers: the parameters file (flat `key: value` lines) and the case files."""

import os


def read_parameters(path):
    params = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if ":" in line:
                key, value = line.split(":", 1)
                params[key.strip()] = float(value)
    return params


def cases(folder):
    return sorted(name[: -len(".txt")] for name in os.listdir(folder) if name.endswith(".txt"))


def read_numbers(path):
    with open(path) as f:
        return [float(x) for x in f.read().split()]

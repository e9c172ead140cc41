"""A model that misbehaves on purpose, for the sandbox tests.

`mode` in parameters.yaml: `exit3` exits 3; `sleep` sleeps for a minute (or `seconds`),
printing nothing; `garbage` writes predictions in no format a metrics cube reads; `probe`
tries to reach the network and to write into its input, records what happened in
probe.json, and then predicts 0.5 for every case; `leak` prints every row of its input
(case ids and feature values) to stdout and stderr, then predicts 0.5 for every case, and
`leak-fail` prints them and exits 3.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path


def probe(data: Path, out: Path, port: int) -> None:
    found: dict[str, object] = {
        "uid": os.getuid(),
        "interfaces": sorted(os.listdir("/sys/class/net")),
    }
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        found["connect"] = "connected"
    except OSError as exc:
        found["connect"] = type(exc).__name__
    try:
        (data / "data.csv").write_text("overwritten\n")
        found["write_input"] = "written"
    except OSError as exc:
        found["write_input"] = type(exc).__name__
    try:
        (data / "new-file").write_text("x")
        found["create_in_input"] = "created"
    except OSError as exc:
        found["create_in_input"] = type(exc).__name__
    (out / "probe.json").write_text(json.dumps(found))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("task")
    parser.add_argument("--data_path", type=Path, required=True)
    parser.add_argument("--parameters_file", type=Path, required=True)
    parser.add_argument("--output_path", type=Path, required=True)
    args = parser.parse_args()
    params = dict(
        line.split(":", 1) for line in args.parameters_file.read_text().splitlines() if ":" in line
    )
    mode = params.get("mode", "").strip()
    print(f"misbehaving model, mode {mode}", flush=True)
    if mode == "exit3":
        print("giving up on purpose", file=sys.stderr, flush=True)
        return 3
    if mode == "sleep":
        time.sleep(float(params.get("seconds", "60").strip()))
    if mode in ("leak", "leak-fail"):  # a model that prints the data it was given
        for line in (args.data_path / "data.csv").read_text().splitlines():
            print(line, flush=True)
            print(line, file=sys.stderr, flush=True)
        if mode == "leak-fail":
            return 3
    if mode == "garbage":  # predictions no metrics cube can read
        (args.output_path / "predictions.csv").write_text("case,guess\nnot,a number\n")
        return 0
    if mode == "probe":
        probe(args.data_path, args.output_path, int(params.get("port", "9").strip()))
    if mode == "link":  # a link in its output to a file the host has, and it does not
        (args.output_path / "leak").symlink_to(params.get("target", "/etc/hostname").strip())
    rows = (args.data_path / "data.csv").read_text().splitlines()[1:]
    with open(args.output_path / "predictions.csv", "w") as handle:
        handle.write("case_id,probability\n")
        for row in rows:
            handle.write(f"{row.split(',', 1)[0]},0.5\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

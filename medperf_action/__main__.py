from __future__ import annotations

from medperf_action.cli import main

main()

"""``python3 -m agent.lab cleanup``: remove labs left behind by a killed process."""

from __future__ import annotations

import sys

from agent.lab.topology import cleanup_stale


def main(argv: list[str]) -> int:
    if argv[:1] != ["cleanup"]:
        print("usage: python3 -m agent.lab cleanup", file=sys.stderr)
        return 2
    removed = cleanup_stale()
    print(f"removed {len(removed)} stale lab(s){': ' + ', '.join(removed) if removed else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Instructions per mint on the database source against the file-only source, by callgrind.

    .venv/bin/python bench/trust_instructions.py [--small 200] [--large 1000] [--level 10]

trust_bench.py and trust_cpu.py read time, and on the shared cores of these machines
time moves by 10-40% from one round to the next, more than the difference they
measure. An instruction count does not move with the machine's load: valgrind's
callgrind counts every instruction the process runs, whatever else runs beside it.

For each app it runs bench/trust_cpu.py under callgrind twice, with one app only and
`--small`, then `--large`, mints in its measured round (the same warm-up round in
both), and takes the difference over the difference in mints: set-up, start-up and
the warm-up cancel out, and what is left is a mint's own instructions, the database
app's drain of its records included (in batches of up to 512, as the drainer's are
under load). Redis and PostgreSQL are other processes and are not counted, as they
would not be in a server's own CPU.

Work an app does by the clock is stopped after the warm-up (trust_cpu.py --still):
under valgrind a run lasts about fifty times longer than natively, so the trust
feed's poll (five times a second) and a drain pass after every linger would be
counted fifty times over. The poll is the database source's cost by the second, not
by the mint: trust_bench.py's real servers include it.

Aim (issue 19): file/database instructions per mint >= 0.9. Exit status 1 when a run
failed (a mint not a 200, records that do not match the answers), 2 when valgrind
is missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(app: str, mints: int, args: argparse.Namespace) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(BENCH / "trust_cpu.py"),
        f"--apps={app}",
        f"--n={mints}",
        "--rounds=1",
        "--still",
        f"--warm={args.warm}",
        f"--level={args.level}",
    ]
    done = subprocess.run(command, capture_output=True, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        sys.stderr.write(done.stdout.decode(errors="replace")[-2000:])
        sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
        raise SystemExit(f"{app} with {mints} mints failed (exit {done.returncode})")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200, help="mints in the shorter run")
    parser.add_argument("--large", type=int, default=1000, help="mints in the longer run")
    parser.add_argument("--warm", type=int, default=200, help="warm-up mints in both")
    parser.add_argument("--level", type=int, default=10, help="publishers seeded")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("setup failed: valgrind is not installed", file=sys.stderr)
        return 2
    per_mint: dict[str, float] = {}
    for app in ("file", "database"):
        small = instructions(app, args.small, args)
        large = instructions(app, args.large, args)
        per_mint[app] = (large - small) / (args.large - args.small)
        print(
            f"{app:<9} {small:,} instructions with {args.small} mints, {large:,} with"
            f" {args.large}: {per_mint[app]:,.0f} a mint",
            flush=True,
        )
    ratio = per_mint["file"] / per_mint["database"]
    verdict = "PASS" if ratio >= 0.9 else "MISS"
    print(f"file/database instructions per mint {ratio:.3f} (aim >= 0.9: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

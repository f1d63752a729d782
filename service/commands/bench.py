"""mintgate bench seed: fill PostgreSQL with a synthetic registry for scale benchmarks.

    mintgate bench seed --projects 1000000 --publishers 1000000 --issuers 5000 \
        [--write-issuers issuers-bench.toml]

The database is MINTGATE_DATABASE_URL's, already migrated (`mintgate db
upgrade`); use a database of its own (CREATE DATABASE mintgate_bench), never
a production one. Seeding tops up, so running it again with larger numbers
adds only the difference. `--write-issuers` writes the K issuers the
publishers name, for MINTGATE_ISSUERS_FILE (an issuer left out of the
configuration leaves its publishers unused, as after removing it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from service.commands.common import load_settings
from service.store.engine import create_engine, display_url
from service.trust.seed import Plan, Seeded, SeedError, issuer_tables, render_issuers, seed

NAME = "bench"
HELP = "benchmark helpers: seed PostgreSQL with test data"

BAR_WIDTH = 30


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="bench_action", required=True)
    command = actions.add_parser("seed", help="top the database up to N projects, M publishers")
    command.add_argument("--projects", type=int, required=True, metavar="N")
    command.add_argument("--publishers", type=int, required=True, metavar="M")
    command.add_argument("--issuers", type=int, default=1, metavar="K")
    command.add_argument("--write-issuers", type=Path, metavar="FILE",
                         help="write the K issuers as issuers.toml to FILE")  # fmt: skip


class ProgressBar:
    """One line on stderr, redrawn per batch: `publishers [#####     ]  50% 500,000/1,000,000`."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int, what: str) -> None:
        share = 1.0 if total <= 0 else min(1.0, done / total)
        filled = round(share * BAR_WIDTH)
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        line = (f"\r{what:<10} [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {share:4.0%}"
                f" {done:,}/{max(total, 0):,} {rate:,.0f}/s")  # fmt: skip
        self.out.write(line + ("\n" if done >= total else ""))
        self.out.flush()
        if done >= total:
            self.started = time.perf_counter()


def run(args: argparse.Namespace) -> int:
    plan = Plan(projects=args.projects, publishers=args.publishers, issuers=args.issuers)
    problem = plan.problem()
    if problem is not None:
        print(f"mintgate: {problem}", file=sys.stderr)
        return 2
    settings = load_settings()
    if settings is None:
        return 2
    if args.write_issuers is not None:
        args.write_issuers.write_text(render_issuers(issuer_tables(plan.issuers)), "utf-8")
    return asyncio.run(_seed(settings.database_url, plan))


async def _seed(url: str, plan: Plan) -> int:
    engine = create_engine(url)
    try:
        seeded = await seed(engine, plan, ProgressBar())
    except SeedError as exc:
        print(f"mintgate: {display_url(url)}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # any driver error: say which database, never the password
        print(f"mintgate: {display_url(url)}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(summary(seeded))
    return 0


def summary(seeded: Seeded) -> str:
    return (
        f"mintgate: added {seeded.projects_added:,} projects and {seeded.publishers_added:,}"
        f" publishers in {seeded.seconds:.1f} s; the database holds {seeded.projects:,}"
        f" projects and {seeded.publishers:,} trusted publishers"
    )

"""trust_bench.py's report: the aims judged on paired rounds, pooled over runs.

A run is one set of freshly started servers. Within a run each round is paired
with the floor's round beside it, so the two share the machine's drift. Across
runs the servers are new processes (their own heap layout, hash seed and cores),
and on these machines one process can stay a few per cent faster or slower than
another doing the same work for as long as it lives: two database servers doing
identical work differed by up to 0.18 within one run. So the verdict is the
median of every paired round of every run, and each run's own median is printed
beside it to show the spread.
"""

from __future__ import annotations

import statistics
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from servers import Server

AIM_RATIO = 0.9
AIM_P50 = 1.2
# The stores' processes, by /proc comm, and their names in the CPU table.
STORES = {"redis-server": "redis", "postgres": "postgres"}

Phase = dict[str, Any]
# Per server, its rounds: (the 1-connection phase, the 16-connection phase).
Measured = dict[str, list[tuple[Phase, Phase]]]


def pooled(runs: list[Measured]) -> Measured:
    together: Measured = {}
    for measured in runs:
        for name, rounds in measured.items():
            together.setdefault(name, []).extend(rounds)
    return together


def paired(measured: Measured, name: str, floor: str, which: int, key: str) -> list[float]:
    """Each round against the floor's round beside it."""
    rounds = zip(measured[name], measured[floor], strict=True)
    return [run[which][key] / base[which][key] for run, base in rounds]


def report(runs: list[Measured], floor: str) -> list[str]:
    measured = pooled(runs)

    def med(name: str, which: int, key: str) -> float:
        return statistics.median(pair[which][key] for pair in measured[name])

    def paired_median(name: str, which: int, key: str) -> float:
        return statistics.median(paired(measured, name, floor, which, key))

    base_rps, base_p50 = med(floor, 1, "rps"), med(floor, 0, "p50_ms")
    lines = [
        f"{'server':<20}{'req/s @16':>10}{'ratio':>7}{'paired':>8}{'p50 @1':>9}{'ratio':>7}"
        f"{'paired':>8}{'p99 @1':>9}  aims, paired (>= {AIM_RATIO}, <= {AIM_P50})"
    ]
    for name in measured:
        rps, p50 = med(name, 1, "rps"), med(name, 0, "p50_ms")
        ratio, p50_ratio = paired_median(name, 1, "rps"), paired_median(name, 0, "p50_ms")
        aims = ""
        if name != floor:
            aims = f"  {_aim(ratio >= AIM_RATIO)} {_aim(p50_ratio <= AIM_P50)}"
        lines.append(
            f"{name:<20}{rps:>10,.0f}{rps / base_rps:>7.2f}{ratio:>8.2f}{p50:>9.3f}"
            f"{p50 / base_p50:>7.2f}{p50_ratio:>8.2f}{med(name, 0, 'p99_ms'):>9.3f}{aims}"
        )
    if len(runs) > 1:
        lines += ["", "each run's paired median, throughput @16 (p50 @1), servers started anew:"]
        for name in measured:
            if name != floor:
                each = [
                    f"{statistics.median(paired(run, name, floor, 1, 'rps')):.2f}"
                    f" ({statistics.median(paired(run, name, floor, 0, 'p50_ms')):.2f})"
                    for run in runs
                ]
                lines.append(f"{name:<20}" + "  ".join(each))
    lines += ["", "each round against the floor's round beside it (throughput @16; p50 @1):"]
    for name in measured:
        if name != floor:
            rps_rounds = " ".join(f"{x:.2f}" for x in paired(measured, name, floor, 1, "rps"))
            p50_rounds = " ".join(f"{x:.2f}" for x in paired(measured, name, floor, 0, "p50_ms"))
            lines.append(f"{name:<20}{rps_rounds};  {p50_rounds}")
    lines += ["", "CPU per mint @16, microseconds (medians over rounds), and the server's share:"]
    parts = ("server", "loadgen", *STORES.values())
    lines.append(f"{'server':<20}" + "".join(f"{part:>10}" for part in parts) + f"{'busy':>7}")
    for name in measured:
        per = [med_cpu(measured[name], part) for part in parts]
        busy = statistics.median(pair[1]["server_cpu"] for pair in measured[name])
        lines.append(f"{name:<20}" + "".join(f"{x:>10,.0f}" for x in per) + f"{busy:>7.0%}")
    return lines


INDEX_COUNTS = {
    "memory": "mintgate_trust_index_memory_answers_total",
    "loads": "mintgate_trust_index_loads_total",
    "direct": "mintgate_trust_index_direct_answers_total",
    "poll failures": "mintgate_trust_feed_poll_failures_total",
}


def index_counts(srv: Server) -> dict[str, int]:
    """A database server's trust index counters, from its /metrics: whether the index
    answered the mints from memory, as the figures assume, or sent them to SQL."""
    url = f"http://127.0.0.1:{srv.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
    values = {sample.name: sample.value for family in families for sample in family.samples}
    return {label: int(values.get(name, 0)) for label, name in INDEX_COUNTS.items()}


def med_cpu(rounds: list[tuple[Phase, Phase]], part: str) -> float:
    return statistics.median(throughput["us_per_mint"][part] for _, throughput in rounds)


def _aim(met: bool) -> str:
    return "PASS" if met else "MISS"

"""Where a server's CPU goes: a summary of py-spy's raw (folded) stacks.

    python bench/profile_report.py DIR/mintgate.folded [--top 25]

Inclusive share: samples whose stack passes through the function (each
stack counted once per function). Self share: samples where it is on top.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "func (path/to/file.py)" or "func (path/to/file.py:123)"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_SHORTEN = (
    re.compile(r"^.*/site-packages/"),
    re.compile(r"^.*/work/main/"),
    re.compile(r"^.*/lib/python3\.\d+/"),
)


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for pattern in _SHORTEN:
        path = pattern.sub("", path)
    return f"{path}:{match['func']}"


def load(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(count)
    return stacks


def summarize(path: Path, top: int = 25) -> str:
    stacks = load(path)
    total = sum(stacks.values())
    if not total:
        return f"{path}: no samples"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        for name in set(stack):
            inclusive[name] += count
        own[stack[-1]] += count
    lines = [f"{path.name}: {total} samples", "  inclusive:"]
    # Frames on (nearly) every stack are the event loop itself: say nothing.
    shown = [(n, c) for n, c in inclusive.most_common() if c < 0.97 * total][:top]
    lines += [f"    {c / total:6.1%}  {n}" for n, c in shown]
    lines.append("  self:")
    lines += [f"    {c / total:6.1%}  {n}" for n, c in own.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folded", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.folded:
        print(summarize(path, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

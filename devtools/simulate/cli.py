"""The command line of `make simulate`: settings from flags or the environment (flags win), then
one call in either direction; every outcome is an exit code, never a traceback."""

from __future__ import annotations

import argparse
import os
import random
import sys
from urllib import parse

from devtools.simulate.inbound import simulate_inbound
from devtools.simulate.internal import DEFAULT_CALLEE, simulate_internal
from devtools.simulate.outbound import simulate
from devtools.simulate.transport import StepError
from devtools.simulate.vonage import OUTCOMES

DEFAULT_BASE = "http://127.0.0.1:8000"
DEFAULT_TO = "14155550101"  # a US number, which the local stage allows
DIRECTIONS = ("outbound", "inbound", "internal")


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulate",
        description="Play Vonage for one app-to-phone call against a running callgate (`make run`).",
    )
    parser.add_argument("--base", default=env.get("BASE") or DEFAULT_BASE, help="service URL (env BASE)")
    parser.add_argument(
        "--to",
        default=env.get("TO") or None,
        help=f"number dialled, or internal: user called (env TO; {DEFAULT_CALLEE})",
    )
    parser.add_argument(
        "--outcome",
        default=env.get("OUTCOME") or "answered",
        help=f"what the callee does: {'|'.join(OUTCOMES)} (env OUTCOME)",
    )
    parser.add_argument("--seed", default=env.get("SEED") or None, help="replay an order (env SEED)")
    parser.add_argument(
        "--direction",
        default=env.get("DIRECTION") or "outbound",
        help=f"{'|'.join(DIRECTIONS)}: jane's call, a call back to the team's number, or jane calling "
        "another app user (env DIRECTION)",
    )
    parser.add_argument(
        "--from", dest="caller", default=env.get("FROM") or None,
        help="inbound: the number calling back (env FROM; default: TO, the number jane called)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done (a refused call included), 1 a step went wrong, 2 bad usage."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.outcome not in OUTCOMES:
            parser.error(f"outcome must be one of {', '.join(OUTCOMES)}, not {args.outcome!r}")
        if args.direction not in DIRECTIONS:
            parser.error(f"direction must be one of {', '.join(DIRECTIONS)}, not {args.direction!r}")
        base = str(args.base).rstrip("/")
        parts = parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            parser.error(f"base must be an http(s) URL such as {DEFAULT_BASE}, not {args.base!r}")
        if args.seed is None:
            seed = random.SystemRandom().randrange(1_000_000)
        elif str(args.seed).strip().lstrip("-").isdigit():
            seed = int(args.seed)
        else:
            parser.error(f"seed must be an integer, not {args.seed!r}")
    except SystemExit as exc:  # usage errors and --help: a code, not an exit, for in-process callers
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.direction == "internal":
            return simulate_internal(base, str(args.to or DEFAULT_CALLEE), args.outcome, seed)
        to = str(args.to or DEFAULT_TO)
        if args.direction == "inbound":
            return simulate_inbound(base, to, str(args.caller or to), args.outcome, seed)
        return simulate(base, to, args.outcome, seed)
    except StepError as exc:
        sys.stdout.flush()
        print(f"simulate: {exc}", file=sys.stderr)
        return 1

"""`make bench`: figures and ratios for the answer path. Prints; asserts nothing.

- import: `import app` against `import chalice, boto3` (fresh interpreters, median).
  The bar: at most 1.15x.
- build: the answer decision with its NCCO (number parsing, rules, builder) per call,
  against serialising a constant NCCO (the floor any answer URL pays).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_BAR = 1.15
RUNS = 15


def import_ms(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(RUNS)
    ]
    return statistics.median(times)


def main() -> None:
    base = import_ms("import chalice, boto3")
    app = import_ms("import app")
    print(f"import chalice+boto3  {base:7.1f} ms  (median of {RUNS} fresh interpreters)")
    print(f"import app            {app:7.1f} ms")
    verdict = "ok" if app / base <= IMPORT_BAR else "OVER THE BAR"
    print(f"ratio app/base        {app / base:7.2f}    (bar <= {IMPORT_BAR}: {verdict})")

    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    from chalicelib import decision, ncco, settings
    from chalicelib.webhooks import parse_answer

    cfg = settings.load(
        {"CALLS_TABLE": "t", "VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US,CA,GB",
         "ALLOW_UNSIGNED_WEBHOOKS": "true"}
    )  # fmt: skip
    request = parse_answer(
        {"to": "+1 415 555 0101", "from_user": "jane", "uuid": "u", "conversation_uuid": "c"}
    )
    now = datetime.now(UTC)
    constant = [
        {"action": "talk", "text": "Please wait"},
        {"action": "connect", "endpoint": [{"type": "phone", "number": "14155550101"}]},
    ]
    n = 5000
    floor = timeit.timeit(lambda: json.dumps(constant), number=n) / n * 1e6
    decide = (
        timeit.timeit(lambda: json.dumps(decision.decide(request, cfg, now).answer["ncco"]), number=n)
        / n
        * 1e6
    )
    builder = (
        timeit.timeit(
            lambda: ncco.ncco(
                ncco.talk("Please wait"),
                ncco.connect(ncco.phone("14155550101"), from_="14155550100", timeout=20),
            ),
            number=n,
        )
        / n
        * 1e6
    )
    print(f"constant NCCO json    {floor:7.1f} us  (floor)")
    print(f"builder talk+connect  {builder:7.1f} us  ({builder / floor:.1f}x floor)")
    print(f"decide + NCCO + json  {decide:7.1f} us  ({decide / floor:.1f}x floor; with phonenumbers)")


if __name__ == "__main__":
    main()

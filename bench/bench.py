"""`make bench`: what callgate costs, as figures and ratios in one table and bench/results.json.

It is rerun after a change (a storage redesign, say) and the two results.json files are
compared. So it measures only through public interfaces: fresh interpreters importing `app`,
the Chalice app object invoked as Lambda invokes it, the routes (chalicelib/routes/) over a
real CallStore on DynamoDB Local (bench/harness.py). It starts its own in-memory DynamoDB
Local on a free port, stops it even on error, and never reaches AWS (dummy credentials).

One guard, and only one: after results.json is written and the table printed, the bench
exits with status 1 when the CPU per request over its floor, `answer_vs_floor` or
`event_vs_floor`, is above GUARD_RATIO (3.0), printing which ratio and its value. Every other
figure (imports, cold starts, round trips, storage, sizes) is only reported, never checked.

- import: median `import app` over median `import chalice, boto3`, fresh interpreters.
- CPU per request (bench/lambda_invoke.py): answer and event URLs through `app.app(event,
  context)` with API Gateway proxy events, the local stage's settings in os.environ and an
  instant fake DynamoDB; each against a floor route on a separate Chalice app, and against the
  same floor writing one JSON log line per request (callgate writes one). Per repeat the
  median of REQUESTS requests (after WARMUP); the figure is the lowest median of REPEATS.
- callback answers: a phone call to the team's number, routed by the last-caller read (the fake
  always finds jane) to her app; against the same answer floor.
- round trips: DynamoDB calls per request counted by the fake (an answer refused by a rate
  limit too, and a callback's answer).
- storage (bench/storage_costs.py): on DynamoDB Local, through the routes: capacity of the
  next event once a call has 10 and 1,000 events, its largest item (and its SUMMARY and LEG
  items), GET /calls/{id} of the 1,000-event call (its first page, and all of it), and the
  first page of GET /calls for a user with 25 calls of 200 events.
- cold start (bench/cold_start.py): out/dev/deployment.zip and its layer unpacked and run by
  CPython 3.13 in fresh processes as Lambda runs them, with and without their bytecode; and
  the same for a floor package (bench/floor_app/, built into out/floor/ by
  bench/floor_package.py): a Chalice app whose GET /answer checks `to` with phonenumbers, does
  one put_item and returns a constant NCCO, its runs interleaved with callgate's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import cold_start, lambda_invoke, storage_costs
from devtools import dynamodb_local

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
RUNS = 15
STARTED = time.monotonic()
# The bench's only guard: CPU per request over the floor's, above this, fails `make bench`.
GUARD_RATIO = 3.0
GUARDED = ("answer_vs_floor", "event_vs_floor")

# key -> (format, what); the table's rows in this order
ROWS: dict[str, tuple[str, str]] = {
    "import_app_ms": ("{:.1f}", "median `import app`, fresh interpreter (ms)"),
    "import_chalice_boto3_ms": ("{:.1f}", "median `import chalice, boto3`, fresh interpreter (ms)"),
    "import_vs_chalice_boto3": ("{:.2f}", "import app / import chalice+boto3"),
    "answer_cpu_us": ("{:.1f}", "GET /answer via app.app(event, ctx), CPU µs (min of medians)"),
    "answer_floor_cpu_us": ("{:.1f}", "floor route: phonenumbers check + constant NCCO, CPU µs"),
    "answer_vs_floor": ("{:.2f}", "answer CPU / floor CPU"),
    "inbound_answer_cpu_us": ("{:.1f}", "GET /answer for a callback (phone → team number), CPU µs"),
    "inbound_answer_vs_floor": ("{:.2f}", "callback answer CPU / answer floor CPU"),
    "event_cpu_us": ("{:.1f}", "POST /event via app.app(event, ctx), CPU µs (min of medians)"),
    "event_floor_cpu_us": ("{:.1f}", "floor route: json.loads + one put_item, CPU µs"),
    "event_vs_floor": ("{:.2f}", "event CPU / floor CPU"),
    "answer_logged_floor_cpu_us": ("{:.1f}", "answer floor + one JSON log line per request, CPU µs"),
    "answer_vs_logged_floor": ("{:.2f}", "answer CPU / that floor's (callgate logs every request)"),
    "event_logged_floor_cpu_us": ("{:.1f}", "event floor + one JSON log line per request, CPU µs"),
    "event_vs_logged_floor": ("{:.2f}", "event CPU / that floor's"),
    "package_zip_mb": ("{:.2f}", "out/dev/deployment.zip, the function's own code (MB)"),
    "layer_zip_mb": ("{:.2f}", "out/dev/layer-deployment.zip, its dependencies' layer (MB)"),
    "cold_init_ms": ("{:.1f}", "package, CPython 3.13: Lambda's init (import app, DynamoDB client), ms"),
    "cold_first_answer_ms": ("{:.1f}", "then the first GET /answer, DynamoDB Local (wall ms)"),
    "cold_warm_answer_ms": ("{:.1f}", "then a second one (wall ms)"),
    "cold_no_bytecode_init_ms": ("{:.1f}", "the same init with both zips' bytecode removed (ms)"),
    "cold_no_bytecode_first_answer_ms": ("{:.1f}", "its first GET /answer (wall ms)"),
    "cold_no_bytecode_warm_answer_ms": ("{:.1f}", "its second (wall ms)"),
    "cold_floor_init_ms": ("{:.1f}", "floor package (bench/floor_app), the same init: import, client (ms)"),
    "cold_floor_first_answer_ms": ("{:.1f}", "its first GET /answer: phonenumbers + one put_item (wall ms)"),
    "cold_floor_warm_answer_ms": ("{:.1f}", "its second (wall ms)"),
    "cold_init_vs_floor": ("{:.2f}", "callgate's init / the floor package's init (3.13, package)"),
    "cold_import_app_ms": ("{:.1f}", "`import app` alone from the package, 3.13, no client built (ms)"),
    "cold_import_chalice_boto3_ms": ("{:.1f}", "`import chalice, boto3` from the package (ms)"),
    "cold_import_vs_chalice_boto3": ("{:.2f}", "import app / import chalice+boto3, 3.13, package"),
    "answer_round_trips": ("{:.2f}", "DynamoDB calls per answer (connect)"),
    "answer_round_trips_over_limit": ("{:.2f}", "DynamoDB calls per answer refused by a rate limit"),
    "event_round_trips": ("{:.2f}", "DynamoDB calls per event"),
    "inbound_answer_round_trips": ("{:.2f}", "DynamoDB calls per callback answer (read + transaction)"),
    "wcu_per_event_at_10": ("{:.1f}", "WCU (table + indexes) of the next event, call has 10"),
    "wcu_per_event_at_1000": ("{:.1f}", "WCU (table + indexes) of the next event, call has 1,000"),
    "summary_bytes_at_10": ("{:,.0f}", "largest item of a 10-event call (DynamoDB item bytes)"),
    "summary_bytes_at_200": ("{:,.0f}", "largest item of a 200-event call (one of the listed 25)"),
    "summary_bytes_at_1000": ("{:,.0f}", "largest item of a 1,000-event call (DynamoDB item bytes)"),
    "summary_item_bytes_at_10": ("{:,.0f}", "its SUMMARY item, 10-event call (bytes)"),
    "summary_item_bytes_at_1000": ("{:,.0f}", "its SUMMARY item, 1,000-event call (bytes)"),
    "leg_item_bytes_at_10": ("{:,.0f}", "its largest LEG item, 10-event call (bytes)"),
    "leg_item_bytes_at_1000": ("{:,.0f}", "its largest LEG item, 1,000-event call (bytes)"),
    "get_call_ms_at_1000": ("{:.1f}", "GET /calls/{id}, 1,000 events: median wall ms (route)"),
    "get_call_bytes_at_1000": ("{:,.0f}", "its JSON response (bytes)"),
    "get_call_events_at_1000": ("{:,.0f}", "events in that response (its first page)"),
    "get_call_all_ms_at_1000": ("{:.1f}", "every page of it, limit=500: wall ms"),
    "get_call_all_rcu_at_1000": ("{:.1f}", "every page of it: RCU"),
    "get_call_all_pages_at_1000": ("{:,.0f}", "pages read"),
    "listing_calls_on_first_page": ("{:.0f}", "GET /calls?user=…&limit=25 (25 calls of 200 events)"),
    "listing_rcu_first_page": ("{:.1f}", "RCU of that page's Query"),
    "listing_bytes_first_page": ("{:,.0f}", "its JSON response (bytes)"),
    "listing_ms_first_page": ("{:.1f}", "its wall ms (route)"),
    "bench_seconds": ("{:.0f}", "wall time of this bench (s)"),
}


def say(line: str) -> None:
    """A progress line, so a slow step shows where it is."""
    print(f"[{time.monotonic() - STARTED:5.0f} s] {line}", flush=True)


def import_ms(statement: str) -> float:
    """Median ms of `statement` in RUNS fresh interpreters."""
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


def use_local_aws(endpoint: str) -> None:
    """Dummy credentials, the local stage's settings and DynamoDB Local: nothing reaches AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(dynamodb_local.LOCAL_AWS_ENV)
    os.environ.update(lambda_invoke.stage_environment(endpoint))


def print_table(results: dict[str, float]) -> None:
    rows = [(key, fmt.format(results[key]), what) for key, (fmt, what) in ROWS.items() if key in results]
    rows += [(key, str(value), "") for key, value in results.items() if key not in ROWS]
    width = max(len(key) for key, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    print(f"\n{'key':<{width}}  {'value':>{value_width}}  what")
    print(f"{'-' * width}  {'-' * value_width}  {'-' * 60}")
    for key, value, what in rows:
        print(f"{key:<{width}}  {value:>{value_width}}  {what}")


def guard(results: dict[str, float]) -> list[str]:
    """What fails the bench: each guarded ratio above GUARD_RATIO (or not measured), as a line."""
    failed = []
    for key in GUARDED:
        value = results.get(key)
        if value is None:
            failed.append(f"bench guard: {key} was not measured")
        elif value > GUARD_RATIO:
            failed.append(f"bench guard: {key} = {value:.2f}, above {GUARD_RATIO:.1f}")
    return failed


def main() -> None:
    os.environ.update(dynamodb_local.LOCAL_AWS_ENV)
    results: dict[str, float] = {}
    # before DynamoDB Local starts: its JVM would compete for the CPU
    say(f"timing imports ({RUNS} fresh interpreters each)")
    results["import_chalice_boto3_ms"] = round(import_ms("import chalice, boto3"), 1)
    results["import_app_ms"] = round(import_ms("import app"), 1)
    results["import_vs_chalice_boto3"] = round(
        results["import_app_ms"] / results["import_chalice_boto3_ms"], 2
    )
    say("starting DynamoDB Local (in memory, free port)")
    proc, url = dynamodb_local.start_on_free_port(log=subprocess.DEVNULL)
    try:
        use_local_aws(url)
        say(
            f"DynamoDB Local at {url}; CPU per request: {lambda_invoke.WARMUP} warm-up, then "
            f"{lambda_invoke.REPEATS} repeats of {lambda_invoke.REQUESTS} per route"
        )
        with lambda_invoke.quiet_app_logs() as warnings:
            results.update(lambda_invoke.measure(say))
            say("storage on DynamoDB Local: building calls of 10, 1,000 and 25 calls of 200 events")
            results.update(storage_costs.measure(url, say))
        results.update(cold_start.measure(url, say))
    finally:
        dynamodb_local.stop(proc)
    results["bench_seconds"] = round(time.monotonic() - STARTED, 1)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    if warnings:
        print(f"\nwarnings the app logged (by event): {dict(warnings)}")
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")
    if failed := guard(results):
        sys.stdout.flush()
        print("\n" + "\n".join(failed), file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

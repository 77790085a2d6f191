"""Many concurrent calls' events through `chalice local`: each one stored exactly once.

Vonage posts the events of many calls at once, and redelivers some. 16 client
threads post 1,000 distinct status events of 250 calls, then all of them again;
DynamoDB Local must then hold each event exactly once. A 503 is retried, as Vonage
retries it: on a busy machine DynamoDB Local may outlast the 0.4 s read timeout,
and the 503 is the latency budget at work, not a failure. The wall times and 503s
printed are for the reader; the test asserts only on what ends stored.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest

from tests.integration.test_restart import Delivery, _identity, stored_events, vonage_events

THREADS = 16
EVENTS = 1000
CALLS = 250
TIMEOUT_S = 10.0
WARM_UP = 64  # events posted (and not counted) before the measured run
CONNECT_TRIES = 3  # for a connection reset before any reply (see _post)
TRIES_AFTER_503 = 10  # Vonage retries a 503 from the event URL: so does each client thread
# Straight to 127.0.0.1, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post_until_stored(base: str, delivery: Delivery) -> tuple[int | str, int, int]:
    """_post, again after each 503 (as Vonage does), a bounded number of times: (the last status,
    connections reset, 503s answered)."""
    unavailable = resets = 0
    for attempt in range(TRIES_AFTER_503):
        status, reset = _post(base, delivery)
        resets += reset
        if status != 503:
            break
        unavailable += 1
        time.sleep(0.1 * (attempt + 1))
    return status, resets, unavailable


def _post(base: str, delivery: Delivery) -> tuple[int | str, int]:
    """(the status of one POST or what went wrong, how many connections were reset first).

    `chalice local` listens with socketserver's backlog of 5: with 16 clients the kernel
    answers some connections with a reset (a failed SYN cookie) before the app sees
    them. Vonage tries again when it cannot connect, so this does too, a bounded number
    of times; what the app answers is never retried.
    """
    path, payload = delivery
    request = urllib.request.Request(
        base + path, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    for resets in range(CONNECT_TRIES):
        try:
            with _OPENER.open(request, timeout=TIMEOUT_S) as response:
                response.read()
                return response.status, resets
        except urllib.error.HTTPError as error:
            return error.code, resets
        except ConnectionResetError:
            time.sleep(0.05 * (resets + 1))
        except OSError as error:  # refused, timed out: no retry
            return f"{type(error).__name__}: {error}", resets
    return f"connection reset {CONNECT_TRIES} times", CONNECT_TRIES


def _post_all(base: str, deliveries: list[Delivery]) -> tuple[Counter[int | str], int, int, float]:
    """Post each delivery from THREADS threads until it is not a 503: (how many ended with each
    status, connection resets retried, 503s retried, wall seconds)."""
    statuses: list[int | str] = [0] * len(deliveries)
    resets = [0] * len(deliveries)
    unavailable = [0] * len(deliveries)

    def worker(first: int) -> None:
        for n in range(first, len(deliveries), THREADS):  # each thread its own share
            statuses[n], resets[n], unavailable[n] = _post_until_stored(base, deliveries[n])

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S * CONNECT_TRIES * TRIES_AFTER_503 * len(deliveries))  # each request times out
    return Counter(statuses), sum(resets), sum(unavailable), time.monotonic() - started


@pytest.mark.slow
def test_a_thousand_events_from_16_threads_are_each_stored_once(
    server: str, ddb_client: Any, table_name: str, capsys
) -> None:
    deliveries = vonage_events(EVENTS, calls=CALLS, seed=2024)
    sent = Counter(_identity(payload) for _, payload in deliveries)
    conversations = {payload["conversation_uuid"] for _, payload in deliveries}
    assert (len(sent), len(conversations)) == (EVENTS, CALLS)

    # A fresh DynamoDB Local's JVM can take longer than the 0.4 s read timeout on its first
    # transactions: those get a 503 (right: Vonage retries them). Warm it on other calls.
    warm_up, _, warm_503, _ = _post_all(server, vonage_events(WARM_UP, calls=WARM_UP // 4, seed=1))
    assert warm_up == {200: WARM_UP}, warm_up

    first, first_resets, first_503, first_s = _post_all(server, deliveries)
    assert first == {200: EVENTS}
    stored = stored_events(ddb_client, table_name, conversations)
    assert (sum(stored.values()), max(stored.values())) == (EVENTS, 1)
    assert stored == sent

    again, again_resets, again_503, again_s = _post_all(server, deliveries)  # every event redelivered
    assert again == {200: EVENTS}
    stored_again = stored_events(ddb_client, table_name, conversations)
    assert stored_again == sent
    with capsys.disabled():
        print(
            f"\nload: warm-up {WARM_UP} events ({warm_503} x 503 retried); "
            f"{EVENTS} events of {CALLS} calls, {THREADS} threads: "
            f"{first_s:.1f} s ({EVENTS / first_s:.0f} requests/s, {first_resets} connection resets and "
            f"{first_503} x 503 retried), all 200, {sum(stored.values())} stored, 0 duplicated; resent: "
            f"{again_s:.1f} s ({EVENTS / again_s:.0f} requests/s, {again_resets} resets, {again_503} x 503), "
            f"all 200, still {sum(stored_again.values())}"
        )

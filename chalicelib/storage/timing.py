"""The latency budget of every DynamoDB call, and of the webhooks that make them.

Vonage waits about 1 s for the answer URL and does not retry a 500, so a slow
DynamoDB must fail fast enough for a spoken refusal to get back in time: one
attempt, 0.2 s to connect + 0.4 s to read (storage/client.py configures the
client with these). A caller with a deadline makes another call only while a
worst-case call still fits before it.
"""

from __future__ import annotations

import random
import time

CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.4
WORST_CALL_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
ANSWER_BUDGET_S = 0.85  # of Vonage's ~1 s for the answer URL (and the fallback URL), what storage may use
# An event: a synchronous connect's failover waits on it, and a slow 503 only delays Vonage's retry.
EVENT_BUDGET_S = 1.5
CONFLICT_BACKOFF_S = (0.01, 0.04)  # jittered pause before retrying a TransactionConflict


def time_left(deadline: float | None) -> float:
    """Seconds until `deadline` (a time.monotonic() value); unlimited without one."""
    return float("inf") if deadline is None else deadline - time.monotonic()


def pause_for_retry(deadline: float | None) -> bool:
    """Sleep a short random while and say True, if a worst-case retry still fits before `deadline`.

    The jitter keeps two colliding transactions from colliding again.
    """
    if time_left(deadline) <= WORST_CALL_S + CONFLICT_BACKOFF_S[1]:
        return False
    time.sleep(random.uniform(*CONFLICT_BACKOFF_S))
    return True

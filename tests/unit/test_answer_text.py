"""The answer is encoded once for the store, the reply and the request line: each reads back as
the answer itself."""

from __future__ import annotations

import json

from chalicelib.routes.answer import AnswerText

NCCO = [
    {"action": "talk", "text": "Bitte später."},
    {"action": "connect", "endpoint": [{"type": "app", "user": "jane"}]},
]


def test_the_stored_text_is_the_answer_and_the_reply_its_ncco() -> None:
    answer = {"uuid": "leg-1", "caller": "jane", "decision": "connect", "ncco": NCCO, "user": "jane"}
    text = AnswerText.of(answer)
    assert json.loads(text.stored()) == answer
    assert json.loads(text.ncco) == NCCO
    assert json.loads("{" + text.fields + "}") == {"caller": "jane", "decision": "connect", "user": "jane"}
    assert "später" in text.stored()  # UTF-8 kept as it is, as every stored text is


def test_an_answer_of_nothing_but_its_ncco_still_encodes() -> None:
    for answer in ({"ncco": NCCO}, {"uuid": None, "ncco": NCCO}):
        text = AnswerText.of(answer)
        assert json.loads(text.stored()) == {"uuid": None, "ncco": NCCO} and text.fields == ""

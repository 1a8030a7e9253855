"""The contact vocabulary: one definition of attempt, connected, conversation, right party."""

import pandas as pd

from nplpipeline import contract as c


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["call", "ivr", "call", "call", "sms", "visit", "call", None],
            "outcome": [
                "no_answer",
                None,
                "wrong_party",
                "paid",
                "paid",
                "refused",
                "dispute",
                "paid",
            ],
        }
    )


def test_attempts_are_placed_calls_only() -> None:
    f = _frame()
    assert c.is_call_attempt(f["channel"]).tolist() == [
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        False,
    ]


def test_missing_outcome_counts_as_connected_and_no_answer_does_not() -> None:
    f = _frame()
    got = c.is_connected_call(f["channel"], f["outcome"]).tolist()
    assert got == [False, True, True, True, False, False, True, False]


def test_paid_call_is_a_conversation_wrong_party_is_not() -> None:
    f = _frame()
    got = c.is_conversation(f["channel"], f["outcome"]).tolist()
    assert got == [False, False, False, True, False, True, True, False]


def test_right_party_calls_are_a_subset_of_attempts() -> None:
    f = _frame()
    rpc = c.is_right_party_call(f["channel"], f["outcome"])
    assert (rpc <= c.is_call_attempt(f["channel"])).all()
    assert rpc.sum() == 2

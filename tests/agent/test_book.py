"""The agent's turn book: speculative turns, goals and LLM history held until confirmed (no event loop)."""

from __future__ import annotations

from liveloop.agent.responder import Goal, GoalKind
from liveloop.apps.reply import AgentBook

STOP = Goal(GoalKind.STOP)


def test_turns_are_numbered_and_a_speculative_goal_waits_for_the_confirm():
    book = AgentBook()
    assert book.open(7, speculative=True, goal=STOP, user="stop", llm=False) == 1
    assert book.open(None, speculative=False, goal=None, user="hi", llm=False) == 2
    assert book.confirm(7) == (1, STOP)
    assert book.confirm(7) is None  # once


def test_a_cancelled_turn_leaves_nothing_behind():
    book = AgentBook()
    book.open(1, speculative=True, goal=STOP, user="stop", llm=True)
    assert book.cancel(1) == 1
    assert book.confirm(1) is None
    book.replied(1, "ok")
    assert list(book.history) == []


def test_llm_history_needs_the_confirm_and_the_whole_reply_in_either_order():
    book = AgentBook()
    book.open(1, speculative=True, goal=None, user="hello", llm=True)
    book.replied(1, "Hi there.")
    assert list(book.history) == []
    book.confirm(1)
    assert list(book.history) == [("user", "hello"), ("assistant", "Hi there.")]
    book.open(2, speculative=True, goal=None, user="how are you", llm=True)
    book.confirm(2)
    book.replied(2, "Fine.")
    assert list(book.history)[-2:] == [("user", "how are you"), ("assistant", "Fine.")]
    book.open(None, speculative=False, goal=None, user="typed", llm=True)
    book.replied(3, "Typed answer.")
    assert list(book.history)[-1] == ("assistant", "Typed answer.")

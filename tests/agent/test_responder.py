"""The deterministic command responder (no event loop)."""

from __future__ import annotations

import pytest

from liveloop.agent.responder import GoalKind, ResponderConfig, ResponderCore, describe, tokenize


def test_tokens_join_back_to_the_text():
    text = "Hello! I am liveloop.  How can I help you?"
    assert "".join(tokenize(text)) == text
    assert tokenize("one two")[0] == "one "


@pytest.mark.parametrize(
    ("said", "intent", "goal"),
    [
        ("Hello there", "greet", None),
        ("hey", "greet", None),
        ("Follow the red ball please", "follow", (GoalKind.FOLLOW, "red ball", None)),
        ("stop!", "stop", (GoalKind.STOP, None, None)),
        ("go left", "move", (GoalKind.MOVE, None, "left")),
        ("turn backwards now", "move", (GoalKind.MOVE, None, "back")),
        ("The weather is nice", "ack", None),
        ("...", "empty", None),
    ],
)
def test_commands(said, intent, goal):
    core = ResponderCore(ResponderConfig(robot_attached=True))
    reply = core.feed(said, 0)
    assert reply.intent == intent
    assert "".join(reply.tokens) == reply.text
    if goal is None:
        assert reply.goal is None
    else:
        assert (reply.goal.kind, reply.goal.target, reply.goal.direction) == goal


def test_acknowledges_what_it_heard_and_robot_absence():
    core = ResponderCore()
    assert core.feed("The weather is nice", 0).text == "I heard: The weather is nice"
    assert core.feed("stop", 0).text == "Stopping, once a robot is attached."


def test_what_do_you_see_uses_the_latest_tracks():
    core = ResponderCore()
    assert "cannot see" in core.feed("What do you see?", 0).text
    core.feed_tracks([{"label": "person"}, {"label": "person"}, {"label": "bicycle"}], 1)
    assert core.feed("what do you see", 2).text == "I see 2 people and one bicycle."
    core.feed_tracks([], 3)
    assert "do not see anything" in core.feed("what can you see?", 4).text


def test_describe_limits_and_bad_input():
    assert describe(["a", "b", "c"], 2) == "one a and one b"
    with pytest.raises(TypeError, match="utterance must be str"):
        ResponderCore().feed(b"hi", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_listed_objects"):
        ResponderConfig(max_listed_objects=0)

"""A turn resumes from the previous turn's snapshot instead of replaying the whole chat; what
it resumes must be exactly what a replay of the stored events gives."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bot_engine.dialogue.applied import AppliedEvents
from bot_engine.dialogue.states import StateHistory, tracker_states
from bot_engine.dialogue.tracker import Tracker

PHRASES = [
    "hello",
    "where is my order",
    "it's 12345",
    "I want to change my delivery address",
    "10 Downing Street, London",
    "actually cancel my order",
    "yes",
    "no",
    "stop",
    "asdkjh qwe zzz",
    "what are your opening hours",
    "are you a bot",
    "/restart",
    "thanks",
    "how long does shipping take",
    "bye",
]


def _derived(tracker: Tracker) -> dict:
    return {
        "slots": tracker.slots,
        "latest_message": tracker.latest_message,
        "latest_action": tracker.latest_action,
        "latest_bot_utterance": tracker.latest_bot_utterance,
        "active_loop": tracker.active_loop,
        "paused": tracker.paused,
        "followup_action": tracker.followup_action,
        "stack": tracker.stack,
        "applied": tracker.applied_events(),
        "states": tracker.dialogue_states(),
    }


def test_every_turn_resumes_exactly_what_a_replay_of_the_stored_chat_gives(demo):
    rng = random.Random(7)
    state = None
    for turn in range(120):
        result = demo.handle(state, rng.choice(PHRASES), sender_id="resume")
        state = result.tracker_state
        stored = json.loads(json.dumps(state))  # what the hub reads back from the database
        resumed = demo.new_tracker("resume", state)
        replayed = demo.new_tracker("resume", stored)
        assert _derived(resumed) == _derived(replayed), f"turn {turn}"


def test_a_chat_read_back_from_storage_answers_like_one_kept_in_memory(demo):
    rng = random.Random(11)
    kept = stored = None
    for _turn in range(60):
        text = rng.choice(PHRASES)
        kept_result = demo.handle(kept, text, sender_id="twin")
        stored_result = demo.handle(stored, text, sender_id="twin")
        assert [m.get("text") for m in kept_result.messages] == [
            m.get("text") for m in stored_result.messages
        ]
        assert kept_result.handoff == stored_result.handoff
        kept = kept_result.tracker_state
        stored = json.loads(json.dumps(stored_result.tracker_state))


def test_a_resumed_turn_works_through_its_own_events_only(demo, monkeypatch):
    # (A repeated form turn still re-derives the state from the applied events: see
    # Tracker.update.)
    small_talk = ["hello", "are you a bot", "thanks", "how long does shipping take"]
    state = None
    for turn in range(300):
        state = demo.handle(state, small_talk[turn % 4], sender_id="long").tracker_state
    applied = []
    original = Tracker._apply

    def counting(self, event):
        applied.append(event)
        return original(self, event)

    monkeypatch.setattr(Tracker, "_apply", counting)
    result = demo.handle(state, "what are your opening hours", sender_id="long")
    assert len(applied) == len(result.events)


# ---- the incremental pieces against a fresh pass over all events ----
_ACTIONS = ["action_listen", "utter_greet", "my_form", "other_form", "utter_ask"]
_EVENTS = st.one_of(
    st.builds(
        lambda i: {"event": "user", "parse_data": {"intent": {"name": i}}},
        st.sampled_from(["greet", "inform", "deny"]),
    ),
    st.builds(lambda n: {"event": "action", "name": n}, st.sampled_from(_ACTIONS)),
    st.builds(
        lambda n: {"event": "active_loop", "name": n},
        st.sampled_from(["my_form", "other_form", None]),
    ),
    st.builds(
        lambda v: {"event": "slot", "name": "order_number", "value": v},
        st.sampled_from(["1", None]),
    ),
    st.sampled_from(
        [
            {"event": "undo"},
            {"event": "rewind"},
            {"event": "restart"},
            {"event": "bot", "text": "hi"},
        ]
    ),
    st.builds(
        lambda n: {"event": "action_execution_rejected", "name": n}, st.sampled_from(_ACTIONS)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENTS, max_size=40))
def test_applied_events_kept_event_by_event_equal_a_fresh_pass(events):
    incremental = AppliedEvents()
    for index, event in enumerate(events):
        incremental.add(event, events[: index + 1])
        fresh = AppliedEvents()
        fresh.rebuild(events[: index + 1])
        assert incremental.events == fresh.events


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENTS, max_size=40), st.integers(min_value=1, max_value=6))
def test_dialogue_states_resumed_between_events_equal_a_fresh_pass(demo, events, every):
    applied = AppliedEvents()
    history = StateHistory()
    for index, event in enumerate(events):
        applied.add(event, events[: index + 1])
        if index % every == 0:
            resumed = history.states(applied.events, applied.changed_from, demo.domain)
            applied.mark_unchanged()
            assert resumed == tracker_states(applied.events, demo.domain)

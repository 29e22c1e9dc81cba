"""Hypothesis throws malformed frames at both WebSockets: every one gets an error frame, the
socket stays open, and nothing is stored."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff_hub.asgi import application
from handoff_hub.models import Message
from tests.hub.conftest import ORIGIN, session_cookie_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

_CUSTOMER_TYPES = {"hello", "message", "typing", "end", "silence", "rate", "ping"}
_AGENT_TYPES = {"open", "claim", "reply", "resolve", "return_to_bot", "typing", "note"}
_AGENT_TYPES |= {"transfer", "status", "ping"}


def _is_object_with_type(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def _not_a_status(value: str) -> bool:
    return value not in {"online", "away", "offline"}


not_a_string = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.integers())
)
not_json_object = st.one_of(
    st.text(max_size=60).filter(lambda t: not _is_object_with_type(t)),
    st.builds(json.dumps, st.one_of(st.lists(st.integers()), st.integers(), st.text())),
    st.builds(lambda v: json.dumps({"type": v}), not_a_string),
)
bad_customer_frame = st.one_of(
    not_json_object.map(lambda raw: ("raw", raw)),
    st.fixed_dictionaries(
        {"type": st.just("message"), "text": st.one_of(not_a_string, st.just(""), st.just("  "))}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("message"),
            "text": st.just("hi"),
            # None is allowed (no client id); anything else that is not a short string is not.
            "client_id": st.one_of(
                not_a_string.filter(lambda v: v is not None), st.text(min_size=65, max_size=80)
            ),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("hello"), "last_seq": st.one_of(st.integers(max_value=-1), st.text())}
    ),
    st.fixed_dictionaries({"type": st.just("hello"), "metadata": not_a_string.filter(bool)}),
    st.fixed_dictionaries({"type": st.just("hello"), "token": st.text(min_size=1, max_size=40)}),
    st.fixed_dictionaries(
        {"type": st.just("rate"), "score": st.one_of(st.integers(6), st.integers(max_value=0))}
    ),
    st.fixed_dictionaries(
        {"type": st.text(max_size=20).filter(lambda t: t not in _CUSTOMER_TYPES)}
    ),
)
bad_agent_frame = st.one_of(
    not_json_object.map(lambda raw: ("raw", raw)),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["open", "claim", "resolve", "reply", "note", "transfer"]),
            "conversation": st.one_of(not_a_string, st.text(max_size=70)),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("status"), "status": st.text(max_size=10).filter(_not_a_status)}
    ),
    st.fixed_dictionaries({"type": st.text(max_size=20).filter(lambda t: t not in _AGENT_TYPES)}),
)


def _encode(frame) -> str:
    if isinstance(frame, tuple):
        return frame[1]
    return json.dumps(frame)


async def _error_then_still_open(communicator: WebsocketCommunicator, frame) -> None:
    # Straight to the application, so even an empty text frame gets through.
    await communicator.send_input({"type": "websocket.receive", "text": _encode(frame)})
    await communicator.send_json_to({"type": "ping"})
    answers = []
    while not answers or answers[-1].get("type") != "pong":
        answers.append(await communicator.receive_json_from(timeout=10))
    assert any(a["type"] == "error" for a in answers[:-1]), (frame, answers)


async def _fuzz_customer(frames) -> None:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "hello"})
    while (await communicator.receive_json_from(timeout=10))["type"] != "welcome":
        pass
    for frame in frames:
        await _error_then_still_open(communicator, frame)
    await communicator.disconnect()


async def _fuzz_agent(frames, cookie: bytes) -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/console/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    assert (await communicator.connect())[0]
    while (await communicator.receive_json_from(timeout=10))["type"] != "snapshot":
        pass
    for frame in frames:
        await _error_then_still_open(communicator, frame)
    await communicator.disconnect()


FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(frames=st.lists(bad_customer_frame, min_size=1, max_size=8))
def test_every_malformed_customer_frame_gets_an_error_and_the_socket_stays_open(frames):
    async_to_sync(_fuzz_customer)(frames)
    assert not Message.objects.exists()


@pytest.fixture
def agent_cookie(make_agent):
    return session_cookie_for(make_agent("fuzzy"))


@FUZZ
@given(frames=st.lists(bad_agent_frame, min_size=1, max_size=8))
def test_every_malformed_agent_frame_gets_an_error_and_the_socket_stays_open(frames, agent_cookie):
    async_to_sync(_fuzz_agent)(frames, agent_cookie)
    assert not Message.objects.exists()

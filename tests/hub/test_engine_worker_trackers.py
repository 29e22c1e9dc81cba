"""What an engine process keeps of its chats' trackers (engine_worker.TrackerStore): bounded
by chats and by events, least recently kept first, a token naming one state only."""

from handoff_hub.engine_worker import TrackerStore


def _state(events: int) -> dict:
    return {"sender_id": "s", "events": [{"event": "user", "text": str(n)} for n in range(events)]}


def test_a_token_names_only_the_state_it_was_given_for():
    store = TrackerStore()
    first = store.keep(1, _state(2))
    second = store.keep(1, _state(3))
    assert store.get(1, first) is None
    assert len(store.get(1, second)["events"]) == 3
    assert store.get(2, second) is None
    assert store.held() == (1, 3)


def test_over_the_chat_count_the_least_recently_kept_chat_goes():
    store = TrackerStore(size=2)
    tokens = {chat: store.keep(chat, _state(1)) for chat in (1, 2)}
    tokens[1] = store.keep(1, _state(2))  # chat 1 talked again: chat 2 is now the oldest
    tokens[3] = store.keep(3, _state(1))
    assert store.get(2, tokens[2]) is None
    assert store.get(1, tokens[1]) is not None and store.get(3, tokens[3]) is not None
    assert store.held() == (2, 3)


def test_over_the_event_budget_old_chats_go_until_it_fits():
    store = TrackerStore(size=100, events=10)
    tokens = {chat: store.keep(chat, _state(4)) for chat in (1, 2)}
    tokens[3] = store.keep(3, _state(7))  # 15 events: chat 1 goes (11), then chat 2 (7)
    assert store.get(1, tokens[1]) is None and store.get(2, tokens[2]) is None
    assert store.get(3, tokens[3]) is not None
    assert store.held() == (1, 7)


def test_a_chat_over_the_budget_alone_is_still_kept_and_a_dropped_one_gives_its_events_back():
    store = TrackerStore(size=100, events=10)
    long = store.keep(1, _state(25))
    assert store.get(1, long) is not None and store.held() == (1, 25)
    short = store.keep(2, _state(3))  # the long chat goes: the newest always stays
    assert store.get(1, long) is None and store.held() == (1, 3)
    store.drop(2)
    assert store.get(2, short) is None and store.held() == (0, 0)


def test_an_early_turns_state_is_kept_beside_the_latest_not_instead_of_it():
    store = TrackerStore()
    latest = store.keep(1, _state(2))
    early = store.keep(1, _state(3), alongside=True)  # the hub may not commit it
    assert len(store.get(1, latest)["events"]) == 2
    assert len(store.get(1, early)["events"]) == 3
    assert store.held() == (1, 5)
    later = store.keep(1, _state(4), alongside=True)  # the early one was committed
    assert store.get(1, latest) is None and store.get(1, early) is not None
    assert store.get(1, later) is not None and store.held() == (1, 7)
    computed = store.keep(1, _state(5))  # a turn computed after its store replaces them all
    assert store.get(1, early) is None and store.get(1, later) is None
    assert store.get(1, computed) is not None and store.held() == (1, 5)

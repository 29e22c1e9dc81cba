"""Which memorised snippet answers a conversation: the longest whose states match its latest
states, the first of equal length (rule and story order decides), whatever the list's order."""

from bot_engine.dialogue.memory import Snippet, best_match


def _state(intent: str, prev_action: str = "action_listen") -> dict:
    return {"intent": intent, "prev_action": prev_action, "slots": {}}


GREET = _state("greet")
ASK = _state("ask_price", prev_action="utter_greet")
CONVERSATION = [GREET, ASK]


def _snippet(action: str, *states: dict, start: bool = False) -> Snippet:
    return Snippet(tuple(states), action, f"story for {action}", start)


def test_the_longest_matching_snippet_wins_wherever_it_stands():
    short = _snippet("utter_price", ASK)
    longer = _snippet("utter_price_after_greeting", GREET, ASK)
    assert best_match([short, longer], CONVERSATION) is longer
    assert best_match([longer, short], CONVERSATION) is longer


def test_of_matching_snippets_of_equal_length_the_first_wins():
    first = _snippet("utter_price", ASK)
    second = _snippet("utter_price_again", ASK)
    assert best_match([first, second], CONVERSATION) is first
    assert best_match([second, first], CONVERSATION) is second


def test_a_longer_snippet_that_differs_in_an_earlier_state_loses_to_a_shorter_match():
    mismatched = _snippet("utter_goodbye", _state("goodbye"), ASK)
    short = _snippet("utter_price", ASK)
    assert best_match([short, mismatched], CONVERSATION) is short
    assert best_match([mismatched, short], CONVERSATION) is short


def test_a_conversation_start_snippet_matches_only_the_whole_conversation():
    opening = _snippet("utter_price", ASK, start=True)
    assert best_match([opening], CONVERSATION) is None
    assert best_match([opening], [ASK]) is opening


def test_no_snippet_longer_than_the_conversation_matches():
    assert best_match([_snippet("utter_price", GREET, GREET, ASK)], CONVERSATION) is None

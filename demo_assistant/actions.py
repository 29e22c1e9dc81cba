"""Northwind's custom actions, run in-process (`actions_module: actions` in endpoints.yml).

A real shop would call its order system here; the demo decides from the order number:
numbers ending in an odd digit have already shipped.
"""

import re


def _shipped(order_number: str | None) -> bool:
    digits = re.sub(r"\D", "", order_number or "")
    return bool(digits) and int(digits[-1]) % 2 == 1


class ActionCheckOrder:
    def name(self):
        return "action_check_order"

    def run(self, dispatcher, tracker, domain):
        shipped = _shipped(tracker.get_slot("order_number"))
        return [{"event": "slot", "name": "order_shipped", "value": shipped}]


class ActionChangeAddress:
    def name(self):
        return "action_change_address"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_address_changed")
        return []


class ActionCancelOrder:
    def name(self):
        return "action_cancel_order"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_order_cancelled")
        return []

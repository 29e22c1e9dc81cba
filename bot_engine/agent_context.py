"""The summary an agent sees when a conversation is handed over: what the bot understood."""

from bot_engine.flows.stack import top_user_frame

HIDDEN_SLOTS = {"session_started_metadata", "requested_slot", "flow_hashes"}


def agent_context(tracker, flows) -> dict:
    """What an agent should know when taking over: intents, slots, flows, a one-line summary."""
    users = []
    for event in reversed(tracker.events):  # the newest three, without walking the whole chat
        if event.get("event") == "user":
            users.insert(0, event)
            if len(users) == 3:
                break
    latest = []
    for event in users:
        intent = (event.get("parse_data") or {}).get("intent") or {}
        ranking = (event.get("parse_data") or {}).get("intent_ranking") or []
        if intent.get("name") == "nlu_fallback" and len(ranking) > 1:
            intent = ranking[1]  # show what the bot guessed, not the fallback marker
        latest.append(
            {
                "text": event.get("text"),
                "name": intent.get("name"),
                "confidence": round(float(intent.get("confidence") or 0.0), 4),
            }
        )
    slots = {k: v for k, v in tracker.slots.items() if v is not None and k not in HIDDEN_SLOTS}
    said = "; ".join(f'"{u["text"]}" ({u["name"]})' for u in latest)
    return {
        "latest_intents": list(reversed(latest)),
        "slots": slots,
        "active_flow": tracker.active_loop.get("name") or _active_flow(tracker),
        "recent_flows": _recent_flows(tracker, flows),
        "summary": f"Customer said: {said}" if said else "",
    }


def _active_flow(tracker) -> str | None:
    frame = top_user_frame(tracker.stack)
    return frame["flow_id"] if frame else None


def _recent_flows(tracker, flows) -> list[str]:
    """The user flows of the session, newest first (patterns left out)."""
    started: list[str] = []
    for event in reversed(tracker.applied_events()):
        flow = flows.get(event.get("flow_id")) if event.get("event") == "flow_started" else None
        if flow is not None and not flow.is_pattern and flow.id not in started:
            started.append(flow.id)
    return started[:5]

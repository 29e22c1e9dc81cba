"""Signed per-conversation tokens: the only thing that lets a customer read a conversation."""

from django.core import signing

_SALT = "handoff_hub.customer-conversation"


def issue_customer_token(public_id) -> str:
    return signing.dumps({"c": str(public_id)}, salt=_SALT, compress=True)


def read_customer_token(token: str) -> str | None:
    """The conversation's public id, or None if the token is forged, malformed or not ours."""
    if not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return data.get("c") if isinstance(data, dict) else None

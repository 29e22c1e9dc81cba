"""Signed per-conversation tokens: the only thing that lets a customer read a conversation."""

import hashlib
import hmac

from django.conf import settings
from django.core import signing

_SALT = "handoff_hub.customer-conversation"


def issue_customer_token(public_id) -> str:
    return signing.dumps({"c": str(public_id)}, salt=_SALT, compress=True)


def identity_signature(customer_id: str, secret: str) -> str:
    """What the host site's server computes for a logged-in customer: HMAC-SHA256(id)."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def verify_customer_identity(identity) -> str | None:
    """The customer id the host site vouched for; None when no identity was given.

    Raises ValueError for a malformed or forged identity, or when verification is off.
    """
    if identity is None:
        return None
    secret = settings.HUB.get("IDENTITY_SECRET")
    if not secret:
        raise ValueError("Identity verification is not enabled on this hub.")
    if not isinstance(identity, dict):
        raise ValueError("'identity' must be an object with 'id' and 'hash'.")
    customer_id, signature = identity.get("id"), identity.get("hash")
    if not isinstance(customer_id, str) or not isinstance(signature, str) or not customer_id:
        raise ValueError("'identity' must be an object with 'id' and 'hash'.")
    if len(customer_id) > 200 or len(signature) > 200:
        raise ValueError("'identity' is too long.")
    # Constant-time comparison: the signature check must not leak how much of it matched.
    if not hmac.compare_digest(identity_signature(customer_id, secret), signature):
        raise ValueError("The customer identity could not be verified.")
    return customer_id


def read_customer_token(token: str) -> str | None:
    """The conversation's public id, or None if the token is forged, malformed or not ours."""
    if not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return data.get("c") if isinstance(data, dict) else None

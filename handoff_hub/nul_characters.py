"""NUL characters in user input: refused with a clear error before they reach the database.

PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL in a query parameter, a JSON body or a
WebSocket frame would otherwise fail deep in a write — a 500, or a message the widget resends
forever. Refusing it at the edge keeps the error honest and the same on both databases.
"""

import json

from django.http import JsonResponse

NUL = "\x00"
_ESCAPED = "\\u0000"
_CHECKED_BODIES = ("application/json", "application/x-www-form-urlencoded", "text/")


def contains_nul(value) -> bool:
    """Whether any string in a parsed JSON value (keys included) holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def json_text_has_nul(text: str) -> bool:
    """For raw JSON text: a cheap substring test first, then a look at the parsed value."""
    if NUL not in text and _ESCAPED not in text:
        return False
    try:
        return contains_nul(json.loads(text))
    except ValueError:
        return NUL in text


def reject_nul_characters(get_response):
    """Middleware: 400 for a NUL in the path, the query string or a JSON/form body."""

    def middleware(request):
        if _has_nul(request):
            return JsonResponse(
                {"detail": "Text may not contain NUL (U+0000) characters."}, status=400
            )
        return get_response(request)

    return middleware


def _has_nul(request) -> bool:
    if NUL in request.path or any(
        NUL in key or any(NUL in v for v in values) for key, values in request.GET.lists()
    ):
        return True
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith(_CHECKED_BODIES):
        return False  # uploads (multipart) are checked by what reads them
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return False  # not text: the view's own parser rejects it
    if content_type.startswith("application/json"):
        return json_text_has_nul(body)
    return NUL in body or "%00" in body

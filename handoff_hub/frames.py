"""Parsing and checking client WebSocket frames: bad input gets an error frame, never a crash."""

import json
import re

from django.conf import settings

from handoff_hub.assistants.models import SITE_KEY_PATTERN
from handoff_hub.nul_characters import json_text_has_nul

_SITE_KEY = re.compile(SITE_KEY_PATTERN)


class FrameError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def as_frame(self) -> dict:
        frame = {"type": "error", "code": self.code, "message": self.message}
        if self.ref is not None:
            frame["ref"] = self.ref
        return frame


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict:
    if text_data is None:
        raise FrameError("bad_frame", "Frames must be JSON text.")
    if len(text_data.encode("utf-8", "surrogatepass")) > settings.HUB["MAX_FRAME_BYTES"]:
        raise FrameError("frame_too_large", "Frame is larger than the hub accepts.")
    try:
        frame = json.loads(text_data)
    except ValueError:
        raise FrameError("bad_json", "Frame is not valid JSON.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", "Frame must be a JSON object with a string 'type'.")
    if json_text_has_nul(text_data):
        raise FrameError(
            "bad_field", "Text may not contain NUL (U+0000) characters.", frame_ref(frame)
        )
    return frame


def optional_str(frame: dict, key: str, max_len: int) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise FrameError("bad_field", f"'{key}' must be a string of at most {max_len} characters.")
    return value


def message_text(frame: dict) -> str:
    text = frame.get("text")
    limit = settings.HUB["MAX_MESSAGE_CHARS"]
    if not isinstance(text, str) or not text.strip():
        raise FrameError("empty_message", "A message needs some text.", frame_ref(frame))
    if len(text) > limit:
        raise FrameError(
            "message_too_long", f"Messages are limited to {limit} characters.", frame_ref(frame)
        )
    return text


def non_negative_int(frame: dict, key: str) -> int:
    value = frame.get(key, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FrameError("bad_field", f"'{key}' must be a non-negative integer.")
    return value


def frame_ref(frame: dict) -> str | None:
    ref = frame.get("client_id")
    return ref if isinstance(ref, str) and len(ref) <= 64 else None


def site_key(frame: dict) -> str:
    """The widget's `data-site` key (picks the assistant version); blank if not given."""
    value = frame.get("site")
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _SITE_KEY.match(value):
        raise FrameError(
            "bad_field", "'site' must be lower-case letters, digits, '.', '_' or '-' (max 60)."
        )
    return value

"""How big an uploaded assistant project may be.

Read by the hub's settings and by the deployment's nginx (deploy/services.py), which must let
such an upload through and stop a bigger request before the hub spools it to disk.
"""

import os

DEFAULT_BYTES = 20 << 20
# What a request carries around the zip: multipart framing and the form's other fields.
REQUEST_HEADROOM_BYTES = 1 << 20


def assistant_upload_bytes(environ=os.environ) -> int:
    return int(environ.get("HUB_ASSISTANT_MAX_UPLOAD_BYTES", DEFAULT_BYTES))


def request_body_bytes(environ=os.environ) -> int:
    """The largest request body the proxy passes on: an upload at the limit, and its form."""
    return assistant_upload_bytes(environ) + REQUEST_HEADROOM_BYTES

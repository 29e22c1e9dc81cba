"""nginx in front of the hub processes lets an assistant upload at the hub's limit through,
and stops a bigger request itself before any hub process spools it."""

import urllib.error
import urllib.request

import pytest

from handoff_hub.upload_limit import assistant_upload_bytes, request_body_bytes
from tests.faults.conftest import needs_topology

pytestmark = [needs_topology, pytest.mark.slow]


def _post_zip(url: str, size: int) -> int:
    """POST a multipart form with a `size`-byte zip to the admin's upload page; the status."""
    boundary = "hub-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; '
        f'filename="project.zip"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    body = head + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url}/admin/assistants/assistant/add/",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_upload_at_the_limit_reaches_the_hub_and_a_bigger_one_stops_at_nginx(topology):
    limit = assistant_upload_bytes(topology.env)
    # The hub answers (no session, so CSRF refuses it): nginx let the whole body through.
    assert _post_zip(topology.url, limit) == 403
    assert _post_zip(topology.url, request_body_bytes(topology.env) + 1) == 413

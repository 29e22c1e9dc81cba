"""nginx in front of the hub processes lets an assistant upload at the hub's limit through to
the admin's upload page, and stops a bigger request itself before any hub process spools it;
every other page keeps a small limit."""

import urllib.error
import urllib.request

import pytest
from django.urls import reverse

from deploy.services import Nginx
from handoff_hub.upload_limit import assistant_upload_bytes, request_body_bytes
from tests.faults.conftest import needs_topology


def _upload_page() -> str:
    """Where the admin takes an assistant zip: the path nginx must know (its template says it)."""
    return reverse("admin:hub_assistantversion_add")


OTHER_LIMIT = 2 << 20  # nginx.conf.template's `client_max_body_size 2m`


def _post_zip(url: str, path: str, size: int) -> int:
    """POST a multipart form with a `size`-byte zip to `path`; the response's status."""
    boundary = "hub-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; '
        f'filename="project.zip"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    body = head + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url + path,
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@needs_topology
@pytest.mark.slow
def test_an_upload_at_the_limit_reaches_the_hub_and_a_bigger_one_stops_at_nginx(topology):
    limit = assistant_upload_bytes(topology.env)
    assert limit > OTHER_LIMIT
    # The hub answers (no session, so CSRF refuses it): nginx let the whole body through.
    assert _post_zip(topology.url, _upload_page(), limit) == 403
    assert _post_zip(topology.url, _upload_page(), request_body_bytes(topology.env) + 1) == 413
    # Elsewhere a body that big is refused by nginx, and a small one still reaches the hub.
    assert _post_zip(topology.url, "/admin/login/", OTHER_LIMIT + 1) == 413
    assert _post_zip(topology.url, "/admin/login/", 1000) == 403


def test_the_upload_pages_limit_is_the_hubs_own(tmp_path):
    config = Nginx([8001], str(tmp_path), max_body_bytes=12_345_678).render()
    upload = config.split(f"location = {_upload_page()}", 1)[1].split("}", 1)[0]
    assert "client_max_body_size 12345678;" in upload
    assert config.count("client_max_body_size") == 2  # the page's, and 2m for the rest

"""A NUL character anywhere in an HTTP request is a 400 with a reason, never a 500."""

import json

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_agent):
    make_agent("sam", supervisor=True)
    client.force_login(get_user_model().objects.get(username="sam"))
    return client


def test_a_nul_in_a_query_parameter_is_a_bad_request(staff_client):
    response = staff_client.get("/api/conversations/", {"status": "queued\x00", "search": "a"})
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert staff_client.get("/api/conversations/", {"status": "queued"}).status_code == 200


def test_a_nul_in_a_json_body_is_a_bad_request(client):
    body = json.dumps({"sender": "s1", "message": "hello\x00"})
    response = client.post("/webhooks/rest/webhook", body, content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_an_escaped_backslash_followed_by_u0000_is_just_text(client):
    body = '{"sender": "s2", "message": "a path like C:\\\\u0000x"}'
    response = client.post("/webhooks/rest/webhook", body, content_type="application/json")
    assert response.status_code == 200

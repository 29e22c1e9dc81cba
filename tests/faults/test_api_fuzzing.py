"""schemathesis against the live hub's OpenAPI schema (/api/schema/): whatever it sends, the
hub never answers with a server error."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.faults.conftest import needs_topology, run_in_hub

pytestmark = [needs_topology, pytest.mark.slow]

MAKE_SUPERVISOR = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from handoff_hub.models import AgentProfile
from handoff_hub.transitions import default_queue
user, _ = get_user_model().objects.get_or_create(username="schema-fuzzer")
profile, _ = AgentProfile.objects.get_or_create(user=user, defaults={"is_supervisor": True})
profile.queues.add(default_queue())
token, _ = Token.objects.get_or_create(user=user)
print(json.dumps(token.key))
"""


@pytest.fixture(scope="session")
def api_token(topology) -> str:
    return run_in_hub(topology, MAKE_SUPERVISOR)


def test_api_never_answers_with_a_server_error(topology, api_token):
    # Each operation of the schema in turn, with hypothesis driving schemathesis' cases
    # (its pytest plugin does not run on this pytest).
    schema = schemathesis.openapi.from_url(f"{topology.url}/api/schema/")
    headers = {"Authorization": f"Token {api_token}"}
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
        def never_a_server_error(case):
            response = case.call(base_url=topology.url, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        never_a_server_error()
        tried.append(operation.label)
    assert len(tried) >= 10, tried

"""The assistant lifecycle in Django admin: upload, validate, train, test, activate, roll back.

Everything goes through the real admin views with the Django test client; training and tests
run in the real background runner while the test polls the page's status endpoint.
"""

import os
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from handoff_hub.assistants.models import (
    Activation,
    Assistant,
    AssistantJob,
    AssistantVersion,
    Deployment,
)
from tests.hub.assistant_projects import project_zip, write_project, zip_bytes, zip_with_symlink

pytestmark = pytest.mark.django_db(transaction=True)
ADD_URL = "/admin/hub/assistantversion/add/"


@pytest.fixture
def store(settings, tmp_path) -> Path:
    """A private assistant store and model folder for the test."""
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_STORE": str(tmp_path / "store"),
        "MODEL_DIR": str(tmp_path / "models"),
        "ASSISTANT_IMPORT_DIRS": [str(tmp_path / "projects")],
    }
    (tmp_path / "projects").mkdir()
    return tmp_path / "store"


@pytest.fixture
def root_client(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    return client


def upload(client, assistant: Assistant, data: bytes, name: str = "bot.zip", notes: str = ""):
    archive = SimpleUploadedFile(name, data, content_type="application/zip")
    return client.post(
        ADD_URL,
        {"assistant": assistant.pk, "notes": notes, "archive": archive, "directory": ""},
        follow=True,
    )


def wait_for_jobs(client, version: AssistantVersion, timeout: float = 90) -> list[dict]:
    """Poll the version page's status endpoint (as its script does) until no job is running."""
    url = f"/admin/hub/assistantversion/{version.pk}/status/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get(url).json()["jobs"]
        if jobs and all(j["status"] in ("succeeded", "failed") for j in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"jobs still running after {timeout} s: {jobs}")


def page_of(client, version: AssistantVersion) -> str:
    response = client.get(f"/admin/hub/assistantversion/{version.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def post_step(client, version: AssistantVersion, step: str, **data):
    url = f"/admin/hub/assistantversion/{version.pk}/{step}/"
    return client.post(url, data, follow=True)


def test_uploaded_zip_becomes_a_validated_version_with_its_files_stored(root_client, store):
    bot = Assistant.objects.create(name="Shop bot")
    response = upload(root_client, bot, project_zip(prefix="shop-bot/"), notes="first cut")
    page = response.content.decode()
    version = AssistantVersion.objects.get(assistant=bot)
    assert response.redirect_chain[-1][0].endswith(f"/assistantversion/{version.pk}/change/")
    assert "Shop bot v1 added: Valid." in page
    assert version.number == 1 and version.notes == "first cut" and version.file_count == 5
    project = Path(version.project_path)
    assert store in project.parents and (project / "domain.yml").is_file()
    assert not [p for p in store.iterdir() if p.name.startswith(".incoming")]
    second = upload(root_client, bot, project_zip(prefix="shop-bot/")).content.decode()
    assert "Shop bot v2 has the same files as v1." in second


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (zip_bytes({"domain.yml": "x", "../escaped.yml": "owned"}), "points outside the project"),
        (zip_bytes({"/tmp/absolute-evil.yml": "owned"}), "absolute paths are not allowed"),
        (zip_with_symlink(), "links are not allowed"),
        (b"this is not a zip at all", "This file is not a zip archive."),
        (zip_bytes({"README.md": "no project here"}), "No Rasa project found"),
        (zip_bytes({"domain.yml": "x", "data\\evil.yml": "y"}), "backslashes"),
    ],
    ids=["traversal", "absolute", "symlink", "not-a-zip", "no-domain", "backslash"],
)
def test_malicious_or_broken_zips_are_refused_with_a_clear_error(
    root_client, store, tmp_path, archive, message
):
    bot = Assistant.objects.create(name="Shop bot")
    response = upload(root_client, bot, archive)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AssistantVersion.objects.exists()
    assert not (tmp_path / "escaped.yml").exists() and not (store.parent / "escaped.yml").exists()
    assert not os.path.exists("/tmp/absolute-evil.yml")
    assert not store.exists() or not list(store.iterdir())  # nothing left behind


def test_zip_bombs_and_oversized_uploads_stop_at_the_limits(root_client, store, settings):
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_MAX_PROJECT_BYTES": 1 << 20,
        "ASSISTANT_MAX_UPLOAD_BYTES": 200_000,
        "ASSISTANT_MAX_FILES": 20,
    }
    bot = Assistant.objects.create(name="Shop bot")
    bomb = zip_bytes({"domain.yml": "x", "data/huge.yml": b"\0" * (4 << 20)})
    assert len(bomb) < 100_000  # tiny on the wire, 4 MB unpacked
    page = upload(root_client, bot, bomb).content.decode()
    assert "unpacks to more than 1.0 MB" in page
    many = zip_bytes({f"data/f{i}.yml": "a: 1" for i in range(30)})
    assert "a project may have at most 20" in upload(root_client, bot, many).content.decode()
    big = zip_bytes({"domain.yml": os.urandom(300_000)})
    assert "uploads are limited to" in upload(root_client, bot, big).content.decode()
    assert not AssistantVersion.objects.exists()
    assert not store.exists() or not list(store.iterdir())


def test_validation_errors_are_shown_with_file_and_line_and_block_training(root_client, store):
    bot = Assistant.objects.create(name="Shop bot")
    upload(root_client, bot, project_zip(goodbye_action="utter_missing"))
    version = AssistantVersion.objects.get()
    assert version.validation_status == "invalid"
    page = page_of(root_client, version)
    assert "Validation: 1 error, 1 warning" in page
    assert (
        "<td>error</td><td>data/rules.yml</td><td>10</td><td>rule &#x27;goodbye&#x27;</td>"
        "<td>uses action &#x27;utter_missing&#x27;, which is not in the domain</td>"
    ) in page
    refused = post_step(root_client, version, "train").content.decode()
    assert "Shop bot v1 has validation errors; fix them and upload again." in refused
    assert not AssistantJob.objects.exists()


def test_directory_import_copies_a_snapshot_and_refuses_other_directories(root_client, store):
    bot = Assistant.objects.create(name="Shop bot")
    source = write_project(store.parent / "projects" / "bot")
    response = root_client.post(
        ADD_URL, {"assistant": bot.pk, "directory": str(source)}, follow=True
    )
    version = AssistantVersion.objects.get()
    assert "Shop bot v1 added: Valid." in response.content.decode()
    (source / "domain.yml").write_text("changed after import")
    assert "Hello from version one!" in (Path(version.project_path) / "domain.yml").read_text()
    outside = root_client.post(ADD_URL, {"assistant": bot.pk, "directory": "/etc"}, follow=True)
    assert "is not inside a directory projects may be imported from" in outside.content.decode()
    assert AssistantVersion.objects.count() == 1


def test_train_test_activate_and_roll_back_from_admin(root_client, store):
    bot = Assistant.objects.create(name="Shop bot")
    upload(root_client, bot, project_zip(expected_goodbye="utter_greet"))
    first = AssistantVersion.objects.get()
    refused = post_step(root_client, first, "activate", site="").content.decode()
    assert "Train Shop bot v1 before activating it." in refused

    page = post_step(root_client, first, "train").content.decode()
    assert "Training Shop bot v1 in the background" in page
    assert wait_for_jobs(root_client, first)[0]["status"] == "succeeded"
    first.refresh_from_db()
    assert first.is_trained and "Trained" in page_of(root_client, first)

    post_step(root_client, first, "test")
    jobs = wait_for_jobs(root_client, first)
    assert [j["kind"] for j in jobs] == ["test", "train"]
    page = page_of(root_client, first)
    assert "1 passed, 1 failed" in page
    assert "expected action &#x27;utter_greet&#x27;, got &#x27;utter_goodbye&#x27;" in page

    page = post_step(root_client, first, "activate", site="").content.decode()
    assert "Shop bot v1 is now active for every site." in page
    assert "its last test run had 1 failure(s)" in page

    upload(root_client, bot, project_zip(greeting="Hello from version two!"))
    second = AssistantVersion.objects.get(number=2)
    post_step(root_client, second, "train")
    wait_for_jobs(root_client, second)
    post_step(root_client, second, "activate", site="")
    assert Deployment.objects.get(site="").version == second

    page = post_step(root_client, second, "rollback", site="").content.decode()
    assert "Every site is back on Shop bot v1." in page
    assert Deployment.objects.get(site="").version == first
    assert list(Activation.objects.order_by("pk").values_list("kind", "version__number")) == [
        ("activate", 1),
        ("activate", 2),
        ("rollback", 1),
    ]
    again = post_step(root_client, first, "rollback", site="").content.decode()
    assert "Every site has no earlier version to roll back to." in again


def test_a_failed_training_is_shown_on_the_page_not_a_500(root_client, store, settings):
    blocker = store.parent / "models-is-a-file"
    blocker.write_text("")
    settings.HUB = {**settings.HUB, "MODEL_DIR": str(blocker)}
    bot = Assistant.objects.create(name="Shop bot")
    upload(root_client, bot, project_zip())
    version = AssistantVersion.objects.get()
    post_step(root_client, version, "train")
    [job] = wait_for_jobs(root_client, version)
    assert job["status"] == "failed" and "NotADirectoryError" in job["error"]
    page = page_of(root_client, version)
    assert "Failed" in page and "NotADirectoryError" in page and "Not trained" in page


@pytest.mark.django_db  # not transactional: keeps the role groups of the data migrations
def test_supervisors_see_versions_but_only_admins_activate(client, store, make_agent):
    bot = Assistant.objects.create(name="Shop bot")
    boss = make_agent("boss", supervisor=True)
    boss.is_staff = True
    boss.save()
    boss.groups.add(Group.objects.get(name="Supervisor"))
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    upload(client, bot, project_zip())
    version = AssistantVersion.objects.get()

    client.force_login(boss)
    page = page_of(client, version)
    assert "Lifecycle of Shop bot v1" in page
    assert f"assistantversion/{version.pk}/train/" not in page
    assert post_step(client, version, "train").status_code == 403
    assert post_step(client, version, "activate", site="").status_code == 403
    assert client.get(ADD_URL).status_code == 403
    assert not AssistantJob.objects.exists() and not Deployment.objects.exists()

    client.force_login(make_agent("alex"))  # not staff: admin sends them to its login
    assert client.get(f"/admin/hub/assistantversion/{version.pk}/change/").status_code == 302


def test_lifecycle_pages_escape_names_notes_and_file_names(root_client, store):
    bot = Assistant.objects.create(name="<b>Bot</b>")
    upload(root_client, bot, project_zip(), name="<script>x</script>.zip", notes="<i>note</i>")
    version = AssistantVersion.objects.get()
    page = page_of(root_client, version)
    assert "<b>Bot</b>" not in page and "&lt;b&gt;Bot&lt;/b&gt; v1" in page
    assert "<script>x</script>" not in page and "<i>note</i>" not in page


def test_deployments_list_rolls_back_and_history_pages_open(root_client, store):
    from handoff_hub.assistants import actions
    from handoff_hub.assistants.deploy import run_now

    bot = Assistant.objects.create(name="Shop bot")
    for greeting in ("one", "two"):
        upload(root_client, bot, project_zip(greeting=greeting))
    first, second = AssistantVersion.objects.order_by("number")
    for version in (first, second):
        run_now(version, "train")
        actions.activate_version(version, "shop")
    listing = root_client.get("/admin/hub/deployment/").content.decode()
    assert "shop" in listing and "Shop bot v2" in listing
    deployment = Deployment.objects.get(site="shop")
    page = root_client.post(
        "/admin/hub/deployment/",
        {"action": "rollback_selected", "_selected_action": [deployment.pk]},
        follow=True,
    ).content.decode()
    assert "Shop bot v1" in page and Deployment.objects.get(site="shop").version == first
    for url in ("/admin/hub/activation/", "/admin/hub/assistantjob/", "/admin/hub/assistant/"):
        assert root_client.get(url).status_code == 200, url
    assistant_page = root_client.get(f"/admin/hub/assistant/{bot.pk}/change/").content.decode()
    assert f"/admin/hub/assistantversion/add/?assistant={bot.pk}" in assistant_page
    assert f'href="/admin/hub/assistantversion/{second.pk}/change/">v2<' in assistant_page
    assert "shop (v1)" in root_client.get("/admin/hub/assistant/").content.decode()


def test_a_job_whose_process_died_is_marked_failed_and_can_be_run_again(root_client, store):
    from datetime import timedelta

    from django.utils import timezone

    bot = Assistant.objects.create(name="Shop bot")
    upload(root_client, bot, project_zip())
    version = AssistantVersion.objects.get()
    long_ago = timezone.now() - timedelta(minutes=10)
    AssistantJob.objects.create(
        version=version, kind="train", status="running", started_at=long_ago, heartbeat_at=long_ago
    )
    [job] = root_client.get(f"/admin/hub/assistantversion/{version.pk}/status/").json()["jobs"]
    assert job["status"] == "failed" and "process running this job stopped" in job["error"]
    post_step(root_client, version, "train")
    jobs = wait_for_jobs(root_client, version)
    assert [j["status"] for j in jobs] == ["succeeded", "failed"]


def test_directory_import_never_follows_links_out_of_the_project(root_client, store):
    secret = store.parent / "secret"
    secret.mkdir()
    (secret / "credentials.yml").write_text("password: hunter2")
    source = write_project(store.parent / "projects" / "bot")
    (source / "data" / "linked").symlink_to(secret, target_is_directory=True)
    (source / "linked-file.yml").symlink_to(secret / "credentials.yml")
    bot = Assistant.objects.create(name="Shop bot")
    root_client.post(ADD_URL, {"assistant": bot.pk, "directory": str(source)})
    version = AssistantVersion.objects.get()
    copied = {p.name for p in Path(version.project_path).rglob("*")}
    assert "credentials.yml" not in copied and "linked-file.yml" not in copied
    assert version.file_count == 5

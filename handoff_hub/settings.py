"""Settings for Handoff Hub, read from the environment with safe embedded defaults.

Nothing set: SQLite next to the code and the in-memory channel layer (one process).
Production: DATABASE_URL (PostgreSQL) and REDIS_URL (Redis pub/sub channel layer), several
Daphne processes behind a proxy.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key

from handoff_hub.upload_limit import assistant_upload_bytes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# A random key per process is safe but logs everyone out on restart and breaks signed widget
# tokens across processes: production must set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "dev-insecure-key-change-me" if DEBUG else get_random_secret_key()
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "handoff_hub.apps.HubConfig",
    "agent_console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "handoff_hub.nul_characters.reject_nul_characters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "handoff_hub.urls"
ASGI_APPLICATION = "handoff_hub.asgi.application"
WSGI_APPLICATION = "handoff_hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at BEGIN so
    # concurrent writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file, not shared-cache memory: in memory SQLite locks whole tables and
    # fails concurrent writers at once instead of letting them wait their turn.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # The pub/sub layer is the fast one for group fan-out across processes; durability comes
    # from the database and replay on reconnect, never from the layer.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handoff Hub API",
    "DESCRIPTION": "Conversations, handoff tickets, queues and agents of a Handoff Hub.",
    "VERSION": "0.1.0",
    # Swagger UI files are served by us (no CDN at run time).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "handoff_hub.status.ConversationStatus",
        "AgentStatusEnum": "handoff_hub.status.AgentStatus",
    },
}

# The hub's own settings, one namespace, overridable from the environment.
HUB = {
    # The Rasa project every new web conversation talks to.
    "ASSISTANT_PATH": os.environ.get("HUB_ASSISTANT_PATH", str(BASE_DIR / "demo_assistant")),
    # Trained models are cached here, keyed by fingerprint.
    "MODEL_DIR": os.environ.get("HUB_MODEL_DIR", str(BASE_DIR / ".models")),
    # Assistant versions (uploaded or imported projects) are copied here; with several
    # machines it must be shared storage, like MODEL_DIR.
    "ASSISTANT_STORE": os.environ.get("HUB_ASSISTANT_STORE", str(BASE_DIR / ".assistants")),
    # Server directories admins may import a project from (comma-separated).
    "ASSISTANT_IMPORT_DIRS": env_list("HUB_ASSISTANT_IMPORT_DIRS", str(BASE_DIR)),
    "ASSISTANT_MAX_UPLOAD_BYTES": assistant_upload_bytes(),
    "ASSISTANT_MAX_PROJECT_BYTES": int(
        os.environ.get("HUB_ASSISTANT_MAX_PROJECT_BYTES", 100 << 20)
    ),
    "ASSISTANT_MAX_FILES": int(os.environ.get("HUB_ASSISTANT_MAX_FILES", 5000)),
    # How stale a process's view of the active versions may get (another process activated).
    "ASSISTANT_REFRESH_SECONDS": float(os.environ.get("HUB_ASSISTANT_REFRESH_SECONDS", 1.0)),
    # Train and test jobs run in a thread of the web process that takes them; false: only
    # `manage.py run_assistant_jobs` runs them.
    "ASSISTANT_JOBS_IN_PROCESS": env_bool("HUB_ASSISTANT_JOBS_IN_PROCESS", True),
    # Limits on what a client may send over a WebSocket.
    "MAX_FRAME_BYTES": int(os.environ.get("HUB_MAX_FRAME_BYTES", 16_384)),
    "MAX_MESSAGE_CHARS": int(os.environ.get("HUB_MAX_MESSAGE_CHARS", 4_000)),
    "DEFAULT_QUEUE": os.environ.get("HUB_DEFAULT_QUEUE", "Support"),
    # A bot or action-server failure apologises and, if true, hands the chat to a human.
    "HANDOFF_ON_BOT_ERROR": env_bool("HUB_HANDOFF_ON_BOT_ERROR", True),
    # A socket's bot turn not committed this long after it started is given up: the customer
    # gets the internal-error answer, and whatever the turn computes later is dropped. No
    # turn's call to an action server or an LLM waits longer (REST turns' too). 0: never.
    "TURN_DEADLINE_SECONDS": float(os.environ.get("HUB_TURN_DEADLINE_SECONDS", 60)),
    # A socket's bot turn starts when its message arrives, beside the store; the store waits
    # this long for it, to commit message and answer together. 0: turns start after the store.
    "EARLY_TURN_MS": float(os.environ.get("HUB_EARLY_TURN_MS", 20)),
    # An agent whose console has been silent this long goes offline; their chats are re-queued.
    "AGENT_SILENCE_SECONDS": int(os.environ.get("HUB_AGENT_SILENCE_SECONDS", 90)),
    # Shared with the host site to verify customer ids (HMAC-SHA256 of the id). Empty: off.
    "IDENTITY_SECRET": os.environ.get("HUB_IDENTITY_SECRET", ""),
    # Threads per process that run bot turns (and wait on action servers), off the event loop.
    "ENGINE_THREADS": int(os.environ.get("HUB_ENGINE_THREADS", 16)),
    # Child processes of each hub process that compute bot turns (0: the engine threads above
    # compute them in the hub process). A process of its own takes the engine off the
    # interpreter lock the event loop and the writer share; one per spare core.
    "ENGINE_PROCESSES": int(os.environ.get("HUB_ENGINE_PROCESSES", 0)),
    # An engine process that answers nothing, not even a ping, for this long is wedged
    # (stopped, or stuck holding its interpreter lock): it is killed and replaced. 0: never.
    "ENGINE_WEDGED_SECONDS": float(os.environ.get("HUB_ENGINE_WEDGED_SECONDS", 30)),
    # An engine process not ready this long after it started (its assistant still loading) is
    # killed and replaced. 0: never.
    "ENGINE_START_SECONDS": float(os.environ.get("HUB_ENGINE_START_SECONDS", 120)),
    # Outgoing webhooks.
    "WEBHOOK_MAX_ATTEMPTS": int(os.environ.get("HUB_WEBHOOK_MAX_ATTEMPTS", 8)),
    "WEBHOOK_BACKOFF_SECONDS": float(os.environ.get("HUB_WEBHOOK_BACKOFF_SECONDS", 1.0)),
    # The whole of one delivery attempt, connect to the receiver's last byte.
    "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("HUB_WEBHOOK_TIMEOUT_SECONDS", 5)),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

"""Settings of the benchmark's djoser: a plain Django project serving djoser and SimpleJWT.

Nothing here is tuned for speed. The aim is the djoser a user would deploy next to the Worker:
Django's defaults wherever the bench does not need something else, and djoser's options set as
the Worker's shipped `[vars]` in wrangler.toml set them, so both sides do the same work per
request (the e-mails, refresh-token rotation and blacklisting).

bench/djoser/run.sh sets the environment read below:
  BENCH_DJOSER_STATE       the folder of this run's data: db.sqlite3, and emails/ with one file
                           per e-mail sent (default: .cache/bench-djoser at the repository's root)
  BENCH_DJOSER_SECRET_KEY  Django's SECRET_KEY, which also signs the JWTs (HS256)
"""

import os
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("BENCH_DJOSER_STATE", HERE.parent.parent / ".cache" / "bench-djoser"))

# run.sh draws a new key for each start and hands it to every gunicorn worker; this fallback
# only serves a manage.py run by hand.
SECRET_KEY = os.environ.get(
    "BENCH_DJOSER_SECRET_KEY",
    "bench-djoser-not-a-secret-only-for-manage-py-run-by-hand-000000",
)
DEBUG = False
# The bench reaches it as 127.0.0.1:PORT; gunicorn listens on 127.0.0.1 only.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",  # djoser.urls.authtoken: token/login/, token/logout/
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # BLACKLIST_AFTER_ROTATION needs its tables
    "djoser",
]

# The stack of a new Django project, less the messages framework (no pages here).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"

# djoser renders its e-mails from the templates in its app folder.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE / "db.sqlite3",
        # Two gunicorn workers write at once (registrations, spent refresh tokens): wait for the
        # other's lock instead of failing with "database is locked" after sqlite's 5 s default.
        "OPTIONS": {"timeout": 20},
    }
}

# Django's defaults: PBKDF2-SHA256 at its iteration count, and the four password validators of a
# new project (registration runs them all).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every e-mail becomes a file: the bench reads the activation link (uid and token) out of it.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = STATE / "emails"
DEFAULT_FROM_EMAIL = "webmaster@localhost"
# djoser's e-mails take these instead of a Site row (no django.contrib.sites needed).
DOMAIN = "localhost:3000"
SITE_NAME = "djoser-edge"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ),
    # No throttling, as the Worker runs in the bench with RATE_LIMITS=off (this is also DRF's
    # default; said here so that nobody adds it to one side only).
    "DEFAULT_THROTTLE_CLASSES": [],
}

# As the Worker's [vars] in wrangler.toml.
DJOSER = {
    "SEND_ACTIVATION_EMAIL": True,  # new users are inactive until they follow the e-mailed link
    "SEND_CONFIRMATION_EMAIL": True,
    "PASSWORD_CHANGED_EMAIL_CONFIRMATION": True,
    "USERNAME_CHANGED_EMAIL_CONFIRMATION": True,
    "ACTIVATION_URL": "activate/{uid}/{token}",  # the bench's link parser expects this shape
    "PASSWORD_RESET_CONFIRM_URL": "password/reset/confirm/{uid}/{token}",
    "USERNAME_RESET_CONFIRM_URL": "username/reset/confirm/{uid}/{token}",
}

SIMPLE_JWT = {
    # SimpleJWT's default lifetimes (5 min, 1 day): the bench logs in again every round.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # Every refresh spends its token and returns a new one, as on the Worker.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer", "JWT"),
}

# Server errors go to gunicorn's stderr, where run.sh's caller sees them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}

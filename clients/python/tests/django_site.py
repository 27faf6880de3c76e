"""A minimal Django project for the session engine's tests: settings, three views and their URLs.

The views do what ``django.contrib.auth``'s login and logout do to the session (``cycle_key``,
``flush``) without needing a user database.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path

SETTINGS = {
    "SECRET_KEY": "tests-only",
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": ["django.contrib.sessions"],
    "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
    "SESSION_ENGINE": "sessiondb.django",
    "DATABASES": {},
    "USE_TZ": True,
}


def login(request: HttpRequest) -> JsonResponse:
    # A new key at login, so a key planted before it is worthless (session fixation).
    request.session.cycle_key()
    request.session["user"] = request.POST["user"]
    return JsonResponse({"user": request.session["user"]})


def counter(request: HttpRequest) -> JsonResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JsonResponse({"user": request.session.get("user"), "count": request.session["count"]})


def logout(request: HttpRequest) -> JsonResponse:
    request.session.flush()
    return JsonResponse({"user": None})


urlpatterns = [
    path("login", login),
    path("counter", counter),
    path("logout", logout),
]

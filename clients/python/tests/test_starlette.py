"""The Starlette/FastAPI middleware, through Starlette's TestClient, on the real server."""

import time

import itsdangerous
import pytest
from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from sessiondb.starlette import SessionMiddleware

SECRET = "tests-only"


async def login(request):
    request.session["user"] = (await request.json())["user"]
    return JSONResponse({"user": request.session["user"]})


async def counter(request):
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"user": request.session.get("user"), "count": request.session["count"]})


async def whoami(request):
    return JSONResponse({"user": request.session.get("user")})


async def add_to_cart(request):
    # A change inside a stored value, which no dict method call reveals.
    request.session.setdefault("cart", []).append(request.query_params["item"])
    return JSONResponse({"cart": request.session["cart"]})


async def websocket_whoami(websocket):
    await websocket.accept()
    await websocket.send_json({"user": websocket.session.get("user")})
    await websocket.close()


async def logout(request):
    request.session.clear()
    return JSONResponse({"user": None})


def starlette_app(server_url, **options):
    app = Starlette(routes=[
        Route("/login", login, methods=["POST"]),
        Route("/counter", counter),
        Route("/whoami", whoami),
        Route("/cart", add_to_cart),
        Route("/logout", logout),
        WebSocketRoute("/ws", websocket_whoami),
    ])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, url=server_url, **options)
    return app


def token_of(browser):
    """The sessiondb token that the browser's signed cookie carries."""
    return int(itsdangerous.TimestampSigner(SECRET).unsign(browser.cookies["session"]))


@pytest.fixture
def browser(db, server_url):
    with TestClient(starlette_app(server_url)) as client:
        yield client


def test_login_counter_logout(db, browser):
    assert browser.post("/login", json={"user": "ann"}).json() == {"user": "ann"}
    tkn = token_of(browser)
    assert db.sh_get(tkn, ["data"]) == {"data": {"user": "ann"}}
    expiry = db.sh_info(tkn)["expiry"]
    assert (expiry["duration"], expiry["deleteSession"], expiry["extendOnGet"],
            expiry["extendOnSetAdd"]) == (14 * 24 * 60 * 60, True, True, True)

    assert browser.get("/counter").json() == {"user": "ann", "count": 1}
    assert browser.get("/counter").json() == {"user": "ann", "count": 2}
    assert token_of(browser) == tkn
    assert db.sh_get(tkn, ["data"]) == {"data": {"user": "ann", "count": 2}}

    response = browser.get("/logout")
    assert response.headers["set-cookie"].startswith(
        "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;")
    assert db.sh_exists([tkn]) == []
    assert "session" not in browser.cookies
    assert browser.get("/whoami").json() == {"user": None}


def test_the_cookie_holds_only_the_signed_token(browser):
    response = browser.post("/login", json={"user": "bob"})
    cookie = response.headers["set-cookie"]
    assert cookie.endswith("; path=/; Max-Age=1209600; httponly; samesite=lax")
    assert "bob" not in cookie
    assert response.headers["vary"] == "Cookie"
    assert str(token_of(browser)) == browser.cookies["session"].split(".")[0]


def test_a_change_inside_a_value_is_stored(db, browser):
    browser.get("/cart", params={"item": "tea"})
    assert browser.get("/cart", params={"item": "jam"}).json() == {"cart": ["tea", "jam"]}
    assert db.sh_get(token_of(browser), ["data"]) == {"data": {"cart": ["tea", "jam"]}}


def test_a_page_without_a_session_sets_no_cookie(browser):
    response = browser.get("/whoami")
    assert response.json() == {"user": None}
    assert "set-cookie" not in response.headers and "vary" not in response.headers


def test_a_websocket_handler_reads_the_session(browser):
    browser.post("/login", json={"user": "hal"})
    with browser.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"user": "hal"}


def test_a_forged_cookie_is_an_empty_session(db, browser):
    tkn = db.sh_new(60)
    db.sh_set(tkn, {"data": {"user": "admin"}})
    browser.cookies["session"] = f"{tkn}.forged.signature"
    response = browser.get("/whoami")
    assert response.json() == {"user": None}
    # The bad cookie is deleted, and the session it named is untouched.
    assert response.headers["set-cookie"].startswith("session=null;")
    assert db.sh_get(tkn, ["data"]) == {"data": {"user": "admin"}}


def test_reading_writes_nothing_but_sends_the_cookie_again(db, browser):
    browser.post("/login", json={"user": "cy"})
    tkn = token_of(browser)
    db.sh_set(tkn, {"data": {"user": "changed elsewhere"}})
    response = browser.get("/whoami")
    assert response.json() == {"user": "changed elsewhere"}
    assert db.sh_get(tkn, ["data"]) == {"data": {"user": "changed elsewhere"}}
    assert response.headers["set-cookie"].startswith("session=")


def test_the_server_expires_the_session(db, server_url):
    with TestClient(starlette_app(server_url, max_age=None, idle_timeout=1)) as browser:
        browser.post("/login", json={"user": "dee"})
        tkn = token_of(browser)
        assert "Max-Age" not in browser.get("/whoami").headers["set-cookie"]
        time.sleep(1.2)
        assert db.sh_exists([tkn]) == []
        assert browser.get("/whoami").json() == {"user": None}


def test_a_session_ended_elsewhere_starts_afresh(db, browser):
    browser.post("/login", json={"user": "eve"})
    tkn = token_of(browser)
    db.sh_end(tkn)
    assert browser.get("/counter").json() == {"user": None, "count": 1}
    assert token_of(browser) != tkn


def test_options_shape_the_cookie(db, server_url):
    app = starlette_app(server_url, session_cookie="sid", max_age=60, path="/",
                        same_site="strict", https_only=True, domain="example.com",
                        partitioned=True)
    with TestClient(app, base_url="https://example.com") as browser:
        cookie = browser.post("/login", json={"user": "fay"}).headers["set-cookie"]
        assert cookie.startswith("sid=")
        assert cookie.endswith(
            "; path=/; Max-Age=60; httponly; samesite=strict; secure; domain=example.com; "
            "partitioned")
        assert browser.get("/whoami").json() == {"user": "fay"}


def test_fastapi(db, server_url):
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, url=server_url)

    @app.post("/login")
    async def fastapi_login(request: Request, user: str):
        request.session["user"] = user
        return {"user": user}

    @app.get("/whoami")
    async def fastapi_whoami(request: Request):
        return {"user": request.session.get("user")}

    # Without a `with` block, TestClient runs each request in a new event loop.
    browser = TestClient(app)
    assert browser.post("/login", params={"user": "gus"}).json() == {"user": "gus"}
    assert browser.get("/whoami").json() == {"user": "gus"}
    assert db.sh_get(token_of(browser), ["data"]) == {"data": {"user": "gus"}}

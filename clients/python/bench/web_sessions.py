"""Requests per second of a small Django app and a small Starlette app, each with its sessions in
sessiondb and in the framework's usual store, measured side by side in one run.

    python bench/web_sessions.py run --sessiondb-url ws://127.0.0.1:19890 \\
        --sessiondb-metrics http://127.0.0.1:19891/metrics --redis-url redis://127.0.0.1:16390 \\
        [--requests 2000] [--rounds 3] [--browsers 8]

runs every variant in its own process (Django can be configured once per process), interleaved
round by round (A B C ... A B C ...), and prints a markdown table of the median requests/s and
of the commands each store served per request (counted by the servers, so independent of load):

* ``django-sessiondb``: ``SESSION_ENGINE = "sessiondb.django"``;
* ``django-redis``: Django's cache session backend on ``django.core.cache.backends.redis.RedisCache``;
* ``starlette-sessiondb``: ``sessiondb.starlette.SessionMiddleware``;
* ``starlette-redis``: the same middleware with its three storage methods on Redis (GETEX, SET EX,
  DEL), the Redis-backed equivalent Starlette does not ship;
* ``starlette-cookie``: Starlette's own ``SessionMiddleware``, the whole session in the cookie.

Each variant logs ``--browsers`` users in (not timed), then times ``--requests`` requests spread
over them round-robin, for two workloads: ``read`` (a page that reads the session) and ``write``
(a counter: read and write). Django's requests go one at a time through ``django.test.Client``
(the WSGI handler in-process, no HTTP server); Starlette's through an ASGI transport in-process,
the browsers concurrently on one event loop. So the figures compare session stores under the same
app, not web servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List, Optional

VARIANTS = ["django-sessiondb", "django-redis", "starlette-sessiondb", "starlette-redis",
            "starlette-cookie"]
WORKLOADS = ["read", "write"]
SECRET = "bench-only"


# ----- Django -------------------------------------------------------------------------------

def run_django(variant: str, args: argparse.Namespace) -> Dict[str, float]:
    import django
    from django.conf import settings

    options: Dict[str, Any] = {}
    if variant == "django-sessiondb":
        options = {"SESSION_ENGINE": "sessiondb.django", "SESSIONDB_URL": args.sessiondb_url}
    else:
        options = {"SESSION_ENGINE": "django.contrib.sessions.backends.cache", "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": args.redis_url}}}
    settings.configure(SECRET_KEY=SECRET, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
                       INSTALLED_APPS=["django.contrib.sessions"], DATABASES={},
                       MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
                       **options)
    django.setup()
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import path

    def login(request):
        request.session.cycle_key()
        request.session["user"] = request.POST["user"]
        return JsonResponse({"user": request.session["user"]})

    def whoami(request):
        return JsonResponse({"user": request.session.get("user")})

    def counter(request):
        request.session["count"] = request.session.get("count", 0) + 1
        return JsonResponse({"count": request.session["count"]})

    global urlpatterns
    urlpatterns = [path("login", login), path("read", whoami), path("write", counter)]

    browsers = [Client() for _ in range(args.browsers)]
    for i, browser in enumerate(browsers):
        assert browser.post("/login", {"user": f"user-{i}"}).status_code == 200
    def browse(workload: str, count: int) -> None:
        for i in range(count):
            response = browsers[i % len(browsers)].get(f"/{workload}")
            if response.status_code != 200:
                raise RuntimeError(f"{variant} /{workload}: status {response.status_code}")

    rates = {}
    for workload in WORKLOADS:
        browse(workload, warm_up(args))
        counted = StoreCommands(variant, args)
        start = time.perf_counter()
        browse(workload, args.requests)
        rates[workload] = args.requests / (time.perf_counter() - start)
        rates[f"{workload}_commands"] = counted.per_request(args.requests)
    return rates


class StoreCommands:
    """Counts the commands the variant's store served from now on: a figure that, unlike
    requests/s, does not depend on how loaded the machine is."""

    def __init__(self, variant: str, args: argparse.Namespace):
        self.args = args
        self.store = variant.split("-")[1]
        self.start = self.count()

    def count(self) -> int:
        if self.store == "sessiondb":
            with urllib.request.urlopen(self.args.sessiondb_metrics, timeout=10) as reply:
                text = reply.read().decode()
            return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                       if line.startswith("sessiondb_commands_total{"))
        if self.store == "redis":
            import redis

            with redis.Redis.from_url(self.args.redis_url) as r:
                stats = r.info("commandstats")
            # This connection's own commands (INFO, HELLO...) are not the app's.
            return sum(v["calls"] for k, v in stats.items()
                       if k not in ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo"))
        return 0  # the cookie holds the session

    def per_request(self, requests: int) -> float:
        return (self.count() - self.start) / requests


def warm_up(args: argparse.Namespace) -> int:
    """Untimed requests before each timed workload: imports, connections and caches settle."""
    return max(args.browsers, args.requests // 10)


urlpatterns: List[Any] = []


# ----- Starlette ----------------------------------------------------------------------------

def starlette_app(variant: str, args: argparse.Namespace):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def login(request):
        request.session["user"] = (await request.json())["user"]
        return JSONResponse({"user": request.session["user"]})

    async def whoami(request):
        return JSONResponse({"user": request.session.get("user")})

    async def counter(request):
        request.session["count"] = request.session.get("count", 0) + 1
        return JSONResponse({"count": request.session["count"]})

    app = Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/read", whoami),
                            Route("/write", counter)])
    if variant == "starlette-sessiondb":
        from sessiondb.starlette import SessionMiddleware
        app.add_middleware(SessionMiddleware, secret_key=SECRET, url=args.sessiondb_url)
    elif variant == "starlette-redis":
        app.add_middleware(redis_middleware(), secret_key=SECRET, redis_url=args.redis_url)
    else:
        from starlette.middleware.sessions import SessionMiddleware as CookieSessionMiddleware
        app.add_middleware(CookieSessionMiddleware, secret_key=SECRET)
    return app


def redis_middleware():
    """sessiondb's middleware with its storage on Redis: one key per session, sliding expiry."""
    import redis.asyncio

    from sessiondb.starlette import SessionMiddleware

    class RedisSessionMiddleware(SessionMiddleware):
        def __init__(self, app, *, redis_url: str, **options: Any):
            super().__init__(app, **options)
            self.redis = redis.asyncio.Redis.from_url(redis_url)

        def _token_from(self, cookie: str) -> Optional[str]:  # type: ignore[override]
            try:
                return self.signer.unsign(cookie.encode(), max_age=self.max_age).decode()
            except Exception:
                return None

        async def _read(self, tkn):  # type: ignore[override]
            data = await self.redis.getex(f"session:{tkn}", ex=self.duration)
            return None if data is None else json.loads(data)

        async def _store(self, tkn, session, changed):  # type: ignore[override]
            if tkn is not None and not changed:
                return tkn
            if tkn is None:
                tkn = secrets.token_urlsafe(24)
            await self.redis.set(f"session:{tkn}", json.dumps(session), ex=self.duration)
            return tkn

        async def _end(self, tkn):  # type: ignore[override]
            await self.redis.delete(f"session:{tkn}")

    return RedisSessionMiddleware


async def run_starlette_async(variant: str, args: argparse.Namespace) -> Dict[str, float]:
    try:
        import httpx2 as httpx  # what Starlette's own TestClient prefers from 1.x on
    except ImportError:
        import httpx

    app = starlette_app(variant, args)
    browsers = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
                for _ in range(args.browsers)]
    for i, browser in enumerate(browsers):
        response = await browser.post("/login", json={"user": f"user-{i}"})
        assert response.status_code == 200
    async def browse(workload: str, total: int) -> None:
        async def one_browser(browser, count: int) -> None:
            for _ in range(count):
                response = await browser.get(f"/{workload}")
                if response.status_code != 200:
                    raise RuntimeError(f"{variant} /{workload}: status {response.status_code}")

        share = [total // len(browsers) + (i < total % len(browsers)) for i in range(len(browsers))]
        await asyncio.gather(*(one_browser(b, n) for b, n in zip(browsers, share)))

    rates = {}
    for workload in WORKLOADS:
        await browse(workload, warm_up(args))
        counted = StoreCommands(variant, args)
        start = time.perf_counter()
        await browse(workload, args.requests)
        rates[workload] = args.requests / (time.perf_counter() - start)
        rates[f"{workload}_commands"] = counted.per_request(args.requests)
    for browser in browsers:
        await browser.aclose()
    return rates


# ----- orchestration ------------------------------------------------------------------------

def run_one(args: argparse.Namespace) -> None:
    if args.variant.startswith("django"):
        rates = run_django(args.variant, args)
    else:
        rates = asyncio.run(run_starlette_async(args.variant, args))
    print(json.dumps({"variant": args.variant, **rates}))


def run_all(args: argparse.Namespace) -> None:
    figures = WORKLOADS + [f"{w}_commands" for w in WORKLOADS]
    results: Dict[str, Dict[str, List[float]]] = {v: {f: [] for f in figures} for v in VARIANTS}
    common = ["--sessiondb-url", args.sessiondb_url, "--redis-url", args.redis_url,
              "--sessiondb-metrics", args.sessiondb_metrics,
              "--requests", str(args.requests), "--browsers", str(args.browsers)]
    for round_no in range(args.rounds):
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "one", variant, *common],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                sys.exit(f"{variant} failed:\n{out.stderr}")
            line = json.loads(out.stdout.splitlines()[-1])
            for figure in figures:
                results[variant][figure].append(line[figure])
            print(f"round {round_no + 1} {variant}: " +
                  ", ".join(f"{w} {line[w]:.0f}/s" for w in WORKLOADS), file=sys.stderr)
    print(f"{args.requests} requests per workload, {args.browsers} browsers, median of "
          f"{args.rounds} rounds\n")
    print("| app and session store | read req/s | write req/s | store commands per read | "
          "per write |")
    print("|---|---:|---:|---:|---:|")
    for variant in VARIANTS:
        m = {f: statistics.median(results[variant][f]) for f in figures}
        print(f"| {variant} | {m['read']:.0f} | {m['write']:.0f} | {m['read_commands']:.2f} | "
              f"{m['write_commands']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("run", "one"):
        p = sub.add_parser(name)
        if name == "one":
            p.add_argument("variant", choices=VARIANTS)
        p.add_argument("--sessiondb-url", required=True)
        p.add_argument("--redis-url", required=True)
        p.add_argument("--sessiondb-metrics", required=True,
                       help="the server's --metrics-addr URL, http://ADDR:PORT/metrics")
        p.add_argument("--requests", type=int, default=2000)
        p.add_argument("--browsers", type=int, default=8)
        if name == "run":
            p.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.browsers < 1 or args.requests < 1:
        parser.error("--browsers and --requests must be at least 1")
    (run_all if args.mode == "run" else run_one)(args)


if __name__ == "__main__":
    main()

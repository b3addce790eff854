"""``@cache.route`` and the discovery of cached views through ``app.url_map``.

Each URL rule of a decorated view becomes a cache rule for that URL's path, with
Flask's converters carried over; a rule only applies to paths that Flask itself routes
to that URL rule.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView, View
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import BaseConverter

from routecache import ConfigurationError, MemoryStore, Rule
from routecache.adapters.flask import RouteCache, cache_route, discover_rules, options_of
from tests.conformance.harness import WSGIClient
from tests.conformance.helpers import hit_ttl

from .conftest import Serve
from .helpers import assert_miss_then_hit, assert_not_cached, get

cache = RouteCache()


def counting(calls: Counter[str], name: str) -> Callable[..., str]:
    def view(**kwargs: Any) -> str:
        calls[name] += 1
        args = ",".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
        return f"{name}({args}) #{calls[name]}"

    view.__name__ = name
    return view


def test_decorator_records_options_and_returns_the_view() -> None:
    def view() -> str:
        return ""

    assert cache.route(ttl=60, tags=iter(["a"]))(view) is view
    assert options_of(view) == {"ttl": 60, "tags": ("a",)}
    assert RouteCache.route is cache_route
    assert options_of(lambda: "") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ttl": -1}, "cache.route: ttl must not be negative"),
        ({"ttl": 1, "tll": 2}, "cache.route: unknown option 'tll' (did you mean 'ttl'?)"),
        ({"ttl": 1, "cookies": "sometimes"}, "cache.route: cookies must be"),
        ({"ttl": 1, "tags": "item:{id}"}, "cache.route: tags must be a list"),
    ],
)
def test_bad_decorator_options_raise_at_once(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        cache.route(**options)
    assert message in str(raised.value)


def test_converters_carry_over(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__)
    routes = {
        "/int/<int:id>": "int",
        "/path/<path:rest>": "path",
        "/uuid/<uuid:u>": "uuid",
        "/string/<string:s>": "string",
        "/float/<float:f>": "float",
        "/default/<d>": "default",
        "/any/<any(red, blue):colour>": "any",
        "/signed/<int(signed=True):n>": "signed",
        "/mixed/<int:a>-<int:b>.json": "mixed",
    }
    for url, name in routes.items():
        app.add_url_rule(url, name, cache.route(ttl=60)(counting(calls, name)))
    RouteCache(app, store=MemoryStore())
    assert [r.path for r in discover_rules(app)] == [
        "/int/<int:id>",
        "/path/<path:rest>",
        "/uuid/<uuid:u>",
        "/string/<string:s>",
        "/float/<float:f>",
        "/default/<str:d>",
        "/any/<str:colour>",
        "/signed/<str:n>",
        "/mixed/<int:a>-<int:b>.json",
    ]
    client = serve(app)
    u = uuid.uuid4()
    for target in [
        "/int/7",
        "/path/a/b/c.txt",
        f"/uuid/{u}",
        "/string/x",
        "/float/1.5",
        "/default/y",
        "/any/red",
        "/signed/-3",
        "/mixed/1-2.json",
    ]:
        assert_miss_then_hit(client, target)
    assert get(client, "/int/7").body == b"int(id=7) #1"
    assert get(client, "/path/a/b/c.txt").body == b"path(rest='a/b/c.txt') #1"
    # Paths that Flask does not route to the view are never cached by its rule, even
    # where routecache's own converter is wider (float without a dot, uuid without
    # hyphens, an empty path, any() outside its values).
    for target in ["/float/3", f"/uuid/{u.hex}", "/path/", "/any/green", "/int/x"]:
        resp = get(client, target)
        assert resp.status == 404
        assert resp.cache_status == "routecache; fwd=bypass; detail=no-rule", target


def test_custom_converters(serve: Serve) -> None:
    class Lang(BaseConverter):
        regex = "[a-z]{2}"

    class Slashy(BaseConverter):
        regex = "[a-z]+(?:/[a-z]+)*"

    calls: Counter[str] = Counter()
    app = Flask(__name__)
    app.url_map.converters["lang"] = Lang
    app.url_map.converters["slashy"] = Slashy
    app.add_url_rule("/<lang:lang>/home", "home", cache.route(ttl=60)(counting(calls, "home")))
    app.add_url_rule("/tree/<slashy:t>", "tree", cache.route(ttl=60)(counting(calls, "tree")))
    RouteCache(app, store=MemoryStore())
    assert [r.path for r in discover_rules(app)] == ["/<str:lang>/home", "/tree/<path:t>"]
    client = serve(app)
    assert_miss_then_hit(client, "/en/home")
    assert_miss_then_hit(client, "/tree/a/b")
    assert_not_cached(client, "/eng/home")
    assert_not_cached(client, "/tree/a/1")


def test_several_url_rules_for_one_view(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    @app.get("/products/<int:id>")
    @app.get("/legacy/item.php")
    @cache.route(ttl=60, tags=["item"])
    def item(id: int = 0) -> str:
        calls[f"item {id}"] += 1
        return f"item {id}"

    RouteCache(app, store=MemoryStore())
    assert sorted(r.path for r in discover_rules(app)) == [
        "/items/<int:id>",
        "/legacy/item.php",
        "/products/<int:id>",
    ]
    client = serve(app)
    assert_miss_then_hit(client, "/items/1")
    assert_miss_then_hit(client, "/products/1")
    assert_miss_then_hit(client, "/legacy/item.php")
    assert calls["item 1"] == 2  # one entry per URL


def test_defaults_and_strict_slashes_follow_flask(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__)

    @app.get("/users/", defaults={"page": 1})
    @app.get("/users/page/<int:page>")
    @cache.route(ttl=60)
    def users(page: int) -> str:
        calls[f"page {page}"] += 1
        return f"page {page}"

    RouteCache(app, store=MemoryStore())
    client = serve(app)
    assert_miss_then_hit(client, "/users/")
    assert_miss_then_hit(client, "/users/page/2")
    # Flask redirects these (to /users/): the rules leave them alone.
    for target in ["/users/page/1", "/users"]:
        resp = get(client, target)
        assert resp.status == 308
        assert resp.cache_status == "routecache; fwd=bypass; detail=no-rule"
    assert calls == Counter({"page 1": 1, "page 2": 1})


def test_a_static_route_beside_a_cached_variable_route_is_not_cached(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__)

    @app.get("/items/<name>")
    @cache.route(ttl=60)
    def item(name: str) -> str:
        return f"item {name}"

    @app.get("/items/new")
    def new_item_form() -> str:
        calls["form"] += 1
        return f"a personal form #{calls['form']}"

    RouteCache(app, store=MemoryStore())
    client = serve(app)
    assert_miss_then_hit(client, "/items/book")
    assert_not_cached(client, "/items/new")
    assert calls["form"] == 2


def test_explicit_rules_come_first(serve: Serve) -> None:
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    @cache.route(ttl=60)
    def item(id: int) -> str:
        return f"item {id}"

    @app.get("/other")
    @cache.route(ttl=60)
    def other() -> str:
        return "other"

    RouteCache(app, store=MemoryStore(), rules=[Rule("/items/{id}", ttl=5)])
    state = app.extensions["routecache"]
    client = serve(app)
    hit = assert_miss_then_hit(client, "/items/1")
    assert 4 <= hit_ttl(hit) <= 5, "the decorator's ttl won over the explicit rule"
    assert 59 <= hit_ttl(assert_miss_then_hit(client, "/other")) <= 60
    assert [r.path for r in state.rules] == ["/items/{id}", "/items/<int:id>", "/other"]


def test_blueprints_nested_and_registered_after_init(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    api = Blueprint("api", __name__, url_prefix="/api")
    v1 = Blueprint("v1", __name__, url_prefix="/v1")

    @v1.get("/things/<int:id>")
    @cache.route(ttl=60, tags=["thing:{id}"])
    def thing(id: int) -> str:
        calls["thing"] += 1
        return f"thing {id}"

    api.register_blueprint(v1)
    app = Flask(__name__)
    RouteCache(app, store=MemoryStore())
    app.register_blueprint(api)  # after init_app: read on the first request
    client = serve(app)
    assert_miss_then_hit(client, "/api/v1/things/3")
    assert [r.path for r in app.extensions["routecache"].rules] == ["/api/v1/things/<int:id>"]
    with app.app_context():
        assert cache.invalidate(tags=["thing:3"]) == 1
    assert not get(client, "/api/v1/things/3").hit


def test_class_based_and_wrapped_views(serve: Serve) -> None:
    calls: Counter[str] = Counter()

    def logged(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls["logged"] += 1
            return view(*args, **kwargs)

        return wrapper

    @cache.route(ttl=60)
    class Whole(MethodView):
        def get(self) -> str:
            return "whole"

    class OnGet(MethodView):
        @cache.route(ttl=30)
        def get(self, id: int) -> str:
            return f"on-get {id}"

        def put(self, id: int) -> str:
            return f"updated {id}"

    class Plain(View):
        def dispatch_request(self) -> str:
            return "plain"

    app = Flask(__name__)
    app.add_url_rule("/whole", view_func=Whole.as_view("whole"))
    app.add_url_rule("/on-get/<int:id>", view_func=OnGet.as_view("on_get"))
    app.add_url_rule("/plain", view_func=cache.route(ttl=20)(Plain.as_view("plain")))

    @app.get("/outer")
    @cache.route(ttl=10)
    @logged
    def outer() -> str:
        return "outer"

    @app.get("/inner")
    @logged
    @cache.route(ttl=10)
    def inner() -> str:
        return "inner"

    RouteCache(app, store=MemoryStore())
    client = serve(app)
    assert_miss_then_hit(client, "/whole")
    assert 29 <= hit_ttl(assert_miss_then_hit(client, "/on-get/1")) <= 30
    assert 19 <= hit_ttl(assert_miss_then_hit(client, "/plain")) <= 20
    assert_miss_then_hit(client, "/outer")
    assert_miss_then_hit(client, "/inner")
    assert calls["logged"] == 2
    # A PUT on the view's path invalidates the cached GET.
    assert client.request("PUT", "/on-get/1").status == 200
    assert not get(client, "/on-get/1").hit


def test_methods(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    app = Flask(__name__)

    @app.get("/list")
    def listing() -> str:
        return "list"

    @app.post("/list")
    @cache.route(ttl=60)  # a POST-only view: nothing to cache
    def create() -> str:
        return "created"

    @app.route("/both", methods=["GET", "PUT"])
    @cache.route(ttl=60)
    def both() -> str:
        return "both"

    with caplog.at_level(logging.WARNING, logger="routecache"):
        RouteCache(app, store=MemoryStore())
        client = serve(app)
        assert_not_cached(client, "/list")  # the GET view is not decorated
        assert_miss_then_hit(client, "/both")
        assert client.request("PUT", "/both").cache_status == "routecache; fwd=method"
        assert not get(client, "/both").hit
    warnings = [r.getMessage() for r in caplog.records]
    assert any("'create' (/list): not cached, the view serves none of" in w for w in warnings)
    # Logged once, not on every discovery.
    assert sum("'create'" in w for w in warnings) == 1


def test_invalidation_only_rule_on_an_unsafe_view(serve: Serve) -> None:
    app = Flask(__name__)

    @app.get("/items")
    @cache.route(ttl=60, tags=["items"])
    def items() -> str:
        return "items"

    @app.post("/orders")
    @cache.route(methods=["POST"], invalidates=["items"])
    def order() -> str:
        return "ordered"

    RouteCache(app, store=MemoryStore())
    client = serve(app)
    assert_miss_then_hit(client, "/items")
    assert client.request("POST", "/orders").status == 200
    assert not get(client, "/items").hit


def test_script_name_prefixes(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    @cache.route(ttl=60)
    def item(id: int) -> str:
        calls[str(id)] += 1
        return f"item {id}"

    RouteCache(app, store=MemoryStore())
    serve(app)
    root = Flask("root")
    client = WSGIClient(DispatcherMiddleware(root, {"/mount": app}))
    assert_miss_then_hit(client, "/mount/items/1")
    direct = WSGIClient(app)
    assert_miss_then_hit(direct, "/items/1")
    assert calls["1"] == 2
    assert sorted(r.path for r in app.extensions["routecache"].rules) == [
        "/items/<int:id>",
        "/mount/items/<int:id>",
    ]


def test_subdomains(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    calls: Counter[str] = Counter()
    app = Flask(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"

    @app.get("/page")
    @cache.route(ttl=60)
    def page() -> str:
        calls["main"] += 1
        return "main page"

    @app.get("/page", subdomain="shop")
    def shop_page() -> str:
        calls["shop"] += 1
        return "shop page, not cached"

    @app.get("/offers", subdomain="shop")
    @cache.route(ttl=60)
    def offers() -> str:
        return "offers"

    with caplog.at_level(logging.WARNING, logger="routecache"):
        RouteCache(app, store=MemoryStore())
    assert [r.path for r in discover_rules(app)] == ["/page"]
    assert any(
        "'offers' (/offers): not cached, routecache rules do not match hosts or subdomains"
        in r.getMessage()
        for r in caplog.records
    )
    # /page is routed to another view on the shop subdomain: the rule must not apply
    # to /page at all (rules match paths, whatever the host).
    shop = WSGIClient(app, host="shop.example.test")
    serve(app)
    assert_not_cached(shop, "/page")
    assert calls["shop"] == 2
    assert_not_cached(WSGIClient(app, host="example.test"), "/page")

    # Without subdomain matching, Flask serves every host from the default subdomain.
    plain = Flask(__name__)
    plain.add_url_rule("/page", "page", page)
    plain.add_url_rule("/page", "shop_page", shop_page, subdomain="shop")
    RouteCache(plain, store=MemoryStore())
    assert_miss_then_hit(serve(plain), "/page")


def test_too_many_script_names(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    app = Flask(__name__)

    @app.get("/p")
    @cache.route(ttl=60)
    def p() -> str:
        return "p"

    RouteCache(app, store=MemoryStore())
    serve(app)
    mounts = {f"/m{i}": app for i in range(10)}
    client = WSGIClient(DispatcherMiddleware(Flask("root"), mounts))
    with caplog.at_level(logging.WARNING, logger="routecache"):
        for i in range(10):
            if i < 8:
                assert_miss_then_hit(client, f"/m{i}/p")
            else:
                assert_not_cached(client, f"/m{i}/p")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "not cached under SCRIPT_NAME '/m8'" in warnings[0]


def test_a_bad_template_raises_at_init_naming_the_view() -> None:
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    @cache.route(ttl=60, tags=["item:{pk}"])
    def item(id: int) -> str:
        return "item"

    with pytest.raises(ConfigurationError) as raised:
        RouteCache(app, store=MemoryStore())
    message = str(raised.value)
    assert message.startswith("@cache.route on 'item' (/items/<int:id>): ")
    assert "{pk}" in message
    assert "routecache" not in app.extensions


def test_a_bad_template_registered_after_init_raises_on_requests() -> None:
    app = Flask(__name__)
    RouteCache(app, store=MemoryStore())

    @app.get("/items/<int:id>")
    @cache.route(ttl=60, tags=["item:{pk}"])
    def item(id: int) -> str:
        return "item"

    client = WSGIClient(app)
    assert client.request("GET", "/items/1").status == 500
    assert isinstance(client.errors[0], ConfigurationError)
    assert "@cache.route on 'item'" in str(client.errors[0])

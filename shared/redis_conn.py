"""Every Redis connection the code makes, from one place: a plain URL or Redis Sentinel.

The code passes one string around (``RedisSettings.url()``, ``Stack.redis_url``, the
``redis_url`` arguments): a plain ``redis://`` / ``rediss://`` / ``unix://`` URL, or a
Sentinel URL that names the sentinels and the master instead of one server::

    redis+sentinel://[user:password@]host:port,host:port,.../<master>[/<db>]
        [?sentinel_username=..&sentinel_password=..&ssl_ca_certs=..]

``redis+sentinels://`` is the same with TLS to the data nodes. The user and password are the
data nodes' ACL user (the service's own); the sentinels are asked with the same login unless
``sentinel_username``/``sentinel_password`` name their own. Every client built here from a
Sentinel URL follows the current primary: redis-py's ``Sentinel.master_for`` asks the
sentinels on every new connection, and a connection that finds its server demoted to a
replica (``READONLY``) is dropped and reconnected (a ``ConnectionError``, which the callers
retry). The bus uses faststream's ``RedisSentinelBroker``, built on the same redis-py class.

Nothing here is secret-safe to print: show a URL with :func:`redact`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from faststream.redis import RedisBroker, RedisSentinelBroker
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel as SyncSentinel

SENTINEL_SCHEMES = ("redis+sentinel", "redis+sentinels")
PLAIN_SCHEMES = ("redis", "rediss", "unix")
_SECRET_PARAMS = ("sentinel_password", "password")


class RedisUrlError(ValueError):
    """A Redis URL that can't be used; the message names what is wrong (never the password)."""


@dataclass(frozen=True)
class SentinelTarget:
    """A Sentinel URL, parsed: where the sentinels are, which master, and how to log in."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None

    def data_kwargs(self) -> dict[str, Any]:
        """Connection options of the data nodes (the primary and replicas)."""
        kw: dict[str, Any] = {"db": self.db, "username": self.username, "password": self.password}
        if self.tls:
            kw["ssl"] = True
            if self.ca_file:
                kw["ssl_ca_certs"] = self.ca_file
        return kw

    def sentinel_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Connection options of the sentinels themselves: their own login if one is given,
        else the data nodes' (the stack creates the same users on both)."""
        user, password = ((self.sentinel_username, self.sentinel_password)
                          if self.sentinel_password is not None else (self.username, self.password))
        return {"username": user, "password": password,
                "socket_timeout": extra.get("socket_timeout", 1.0),
                "socket_connect_timeout": extra.get("socket_connect_timeout", 1.0)}


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme in SENTINEL_SCHEMES


def parse_sentinel(url: str) -> SentinelTarget:
    """A ``redis+sentinel://`` URL → :class:`SentinelTarget`; :class:`RedisUrlError` names the
    part that is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise RedisUrlError(f"not a Sentinel URL (scheme {parts.scheme!r})")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = tuple(parse_hostports(hosts))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise RedisUrlError("a Sentinel URL needs the master's name: redis+sentinel://"
                            "host:port,.../<master>[/<db>]")
    try:
        db = int(path[1]) if len(path) > 1 else 0
    except ValueError as exc:
        raise RedisUrlError(f"database {path[1]!r} is not a number") from exc
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"sentinel_username", "sentinel_password", "ssl_ca_certs"}
    if unknown:
        raise RedisUrlError(f"unknown Sentinel URL option(s): {', '.join(sorted(unknown))}")
    return SentinelTarget(
        sentinels=sentinels, master=unquote(path[0]), db=db,
        username=unquote(user) or None, password=unquote(password) if userinfo and _ else None,
        sentinel_username=query.get("sentinel_username") or None,
        sentinel_password=query.get("sentinel_password"),
        tls=parts.scheme == "redis+sentinels", ca_file=query.get("ssl_ca_certs"))


def parse_hostports(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` → [(host, port), ...] (IPv6 as ``[::1]:26379``)."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisUrlError(f"sentinel {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise RedisUrlError("no sentinels given (host:port,host:port,...)")
    return out


def sentinel_url(sentinels: list[tuple[str, int]], master: str, *, db: int = 0,
                 username: str | None = None, password: str | None = None,
                 sentinel_username: str | None = None, sentinel_password: str | None = None,
                 tls: bool = False, ca_file: str | None = None) -> str:
    """The Sentinel URL of these parts (credentials percent-encoded)."""
    netloc = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in sentinels)
    if password is not None:
        netloc = f"{quote(username or 'default', safe='')}:{quote(password, safe='')}@{netloc}"
    query = {k: v for k, v in (("sentinel_username", sentinel_username),
                               ("sentinel_password", sentinel_password),
                               ("ssl_ca_certs", ca_file)) if v is not None}
    return urlunsplit((SENTINEL_SCHEMES[1] if tls else SENTINEL_SCHEMES[0], netloc,
                       f"/{quote(master, safe='')}/{db}", urlencode(query), ""))


def with_login(url: str, username: str | None, password: str | None) -> str:
    """``url`` (plain or Sentinel) logged in as ``username`` (the sentinels too, unless the
    URL names their own login)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if password is not None:
        netloc = f"{quote(username or 'default', safe='')}:{quote(password, safe='')}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def redact(url: str) -> str:
    """``url`` as it may be printed: every password in it → ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, sep, _pw = userinfo.partition(":")
        netloc = f"{user}:***@{hosts}" if sep else netloc
    query = parse_qsl(parts.query)
    if any(k in _SECRET_PARAMS for k, _ in query):
        query = [(k, "***" if k in _SECRET_PARAMS else v) for k, v in query]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*/")))


def async_client(url: str, **kwargs: Any) -> aredis.Redis:
    """A ``redis.asyncio`` client: ``from_url`` for a plain URL, the current primary through
    the sentinels for a Sentinel URL. ``kwargs`` are redis-py connection options."""
    if not is_sentinel(url):
        return aredis.from_url(url, **kwargs)
    target = parse_sentinel(url)
    manager = AsyncSentinel(list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs(**kwargs))
    client: aredis.Redis = manager.master_for(target.master, redis_class=aredis.Redis,
                                              **target.data_kwargs(), **kwargs)
    return client


def sync_client(url: str, **kwargs: Any) -> redis.Redis:
    """The blocking twin of :func:`async_client` (the launcher, probes, scripts)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel(url)
    manager = SyncSentinel(list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs(**kwargs))
    client: redis.Redis = manager.master_for(target.master, redis_class=redis.Redis,
                                             **target.data_kwargs(), **kwargs)
    return client


def broker(url: str, **kwargs: Any) -> RedisBroker:
    """faststream's broker: ``RedisBroker(url)``, or ``RedisSentinelBroker`` (the same broker
    whose connection comes from ``Sentinel.master_for``) for a Sentinel URL."""
    if not is_sentinel(url):
        return RedisBroker(url, **kwargs)
    target = parse_sentinel(url)
    data = {k: v for k, v in target.data_kwargs().items() if v is not None}
    spec = redact(url)
    return RedisSentinelBroker("redis://localhost", sentinels=list(target.sentinels),
                               sentinel_master_name=target.master,
                               sentinel_kwargs=target.sentinel_kwargs(),
                               specification_url=spec, **data, **kwargs)

"""``agentroute sim serve``: a local HTTP/1.1 server speaking the OpenAI Chat Completions, the
OpenAI Responses and the Anthropic Messages wire formats, for tests, the demo and benchmarks.

Built on ``anyio.create_tcp_listener`` and ``h11`` (no web framework, no new dependency), so it
runs on asyncio and trio. Each connection is one task reading requests with h11 (keep-alive;
``Content-Length`` or chunked bodies up to ``max_body_bytes``, else 413; an idle connection is
closed after ``idle_timeout_s``) and answering with a ``Content-Length`` body or a chunked SSE
stream. Closing the :func:`run_simulator` context cancels the listener and every connection
task: nothing outlives it.

Requests are routed by path to named instances (each an
:class:`~agentroute.sim.instance.Instance`, which decides the fault or the answer):
``/<name>/v1/chat/completions`` and ``/<name>/v1/responses`` (``kind: openai``; SDK ``base_url``
``http://HOST:PORT/<name>/v1``; :mod:`.wire_openai`, :mod:`.wire_responses`) and
``/<name>/v1/messages`` (``kind: anthropic``; SDK ``base_url`` ``http://HOST:PORT/<name>``;
:mod:`.wire_anthropic`). ``GET /`` lists the instances.

What each fault does on the socket:

* ``rate_limit``, ``server_error``, ``unavailable``, ``overloaded``, ``context_window``,
  ``content_policy``: a complete HTTP error answer in the instance's API shape; the connection
  stays usable.
* ``timeout``: the request is held. With ``delay_s`` the normal answer follows after that many
  seconds; without, nothing is ever sent, and the server waits until the client closes the
  connection (it watches the socket, so nothing lingers after the client gives up).
* ``drop``: the whole request is read, then the socket is closed without a byte of answer.
* ``drop_mid_response``: the status line, headers and about half of the body (or of the SSE
  events) are sent, then the socket is closed.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from http import HTTPStatus
from typing import Any

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute

from agentroute.clock import Clock, SystemClock
from agentroute.sim import wire_anthropic, wire_openai, wire_responses
from agentroute.sim.config import SimConfig
from agentroute.sim.faults import Answer, Drop, Hold, InstanceStats, RequestRecord, Wire
from agentroute.sim.instance import Instance

__all__ = ["Simulator", "run_simulator"]

_WIRES: Mapping[str, tuple[Wire, ...]] = {
    "openai": (wire_openai, wire_responses),
    "anthropic": (wire_anthropic,),
}
"""The wire formats (one per endpoint) an instance of each kind serves."""

_READ = 65536
_MAX_HEADER = 64 * 1024
_CLOSED = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class _TooLarge(Exception):
    pass


class Simulator:
    """A configured simulator; :meth:`serve` runs it. Use :func:`run_simulator` in tests.

    ``clock``: the simulator's own clock, where the instances' prompt caches read time
    (default: :class:`~agentroute.clock.SystemClock`; a :class:`~agentroute.testing.FakeClock`
    expires cache entries without waiting). Latency, holds and pacing stay real time: they are
    what a client's timeouts measure.
    """

    def __init__(
        self, config: SimConfig | Mapping[str, Any], *, clock: Clock | None = None
    ) -> None:
        self.config = config if isinstance(config, SimConfig) else SimConfig.from_mapping(config)
        self.clock: Clock = clock or SystemClock()
        self.instances = {
            name: Instance(name, c, _WIRES[c.kind], clock=self.clock)
            for name, c in self.config.instances.items()
        }
        self.port: int = self.config.port
        self.connections = 0
        """Connections accepted so far (keep-alive reuses one)."""
        self.open_connections = 0
        """Connections open right now (a client that leaks sockets keeps this up)."""
        self.internal_errors: deque[Exception] = deque(maxlen=100)
        """Unexpected errors of the simulator itself (answered with a 500); tests check it."""

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (the bound port once serving)."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    def base_url(self, name: str) -> str:
        """The ``base_url`` to give the official SDK for instance ``name``."""
        instance = self.instances[name]
        return f"{self.url}/{name}/v1" if instance.config.kind == "openai" else f"{self.url}/{name}"

    def stats(self, name: str) -> InstanceStats:
        """Counters of instance ``name`` so far (requests, faults, tokens, cache reads/writes)."""
        return self.instances[name].stats()

    def records(self, name: str) -> tuple[RequestRecord, ...]:
        """The last requests of instance ``name`` (at most 1,000), oldest first."""
        return tuple(self.instances[name].records)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[Simulator] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; ``task_status.started(self)`` once bound."""
        listener = await anyio.create_tcp_listener(
            local_host=self.config.host, local_port=self.config.port
        )
        async with listener:
            self.port = listener.extra(SocketAttribute.local_port)
            task_status.started(self)
            await listener.serve(self._connection)

    # ---- one connection ----------------------------------------------------------------

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        self.open_connections += 1
        try:
            async with stream:
                conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER)
                try:
                    while await self._one_exchange(conn, stream):
                        conn.start_next_cycle()
                except _CLOSED:
                    pass  # the client went away
                except h11.RemoteProtocolError as exc:
                    await _refuse(conn, stream, exc.error_status_hint, str(exc))
                except Exception as exc:  # a simulator bug must not stop the other connections
                    self.internal_errors.append(exc)
                    await _refuse(conn, stream, 500, f"simulator error: {type(exc).__name__}")
        finally:
            self.open_connections -= 1

    async def _one_exchange(self, conn: h11.Connection, stream: anyio.abc.SocketStream) -> bool:
        """Read one request and answer it; ``False`` when the connection must close."""
        with anyio.move_on_after(self.config.idle_timeout_s):
            event = await _next_event(conn, stream)
        if not isinstance(event, h11.Request):
            return False  # idle timeout, or the client closed the connection
        try:
            body = await self._read_body(conn, stream, event)
        except _TooLarge:
            instance = self.instances.get(_instance_name(event.target))
            limit = self.config.max_body_bytes
            answer = instance.too_large(limit) if instance else _not_found("POST", "/", limit)
            closing = replace(answer, headers=[*answer.headers, ("connection", "close")])
            await self._answer(conn, stream, closing)
            await _linger(stream)
            return False
        action = self._dispatch(event, body)
        if isinstance(action, Hold):
            still_there = await _hold(conn, stream, action.delay_s)
            if action.then is None or not still_there:
                return False
            action = action.then
        if isinstance(action, Drop):
            return False
        keep = await self._answer(conn, stream, action)
        return keep and conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _read_body(
        self, conn: h11.Connection, stream: anyio.abc.SocketStream, request: h11.Request
    ) -> bytes:
        limit = self.config.max_body_bytes
        for name, value in request.headers:
            if name == b"content-length" and int(value) > limit:
                raise _TooLarge
        if conn.they_are_waiting_for_100_continue:  # curl sends Expect: 100-continue
            await stream.send(_wire(conn, h11.InformationalResponse(status_code=100, headers=[])))
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise _TooLarge
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:  # the client closed mid-request
                raise anyio.EndOfStream

    def _dispatch(self, request: h11.Request, body: bytes) -> Answer | Hold | Drop:
        path = request.target.decode("latin-1").split("?", 1)[0]
        name, _, rest = path.lstrip("/").partition("/")
        instance = self.instances.get(name)
        method = request.method.decode("latin-1")
        if instance is None:
            if method == "GET" and not name:
                return self._index()
            return _not_found(method, path)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        return instance.handle(method, "/" + rest, headers, body)

    def _index(self) -> Answer:
        listing = {
            name: {"kind": i.config.kind, "base_url": self.base_url(name)}
            for name, i in self.instances.items()
        }
        body = json.dumps({"instances": listing}).encode()
        return Answer(200, [("content-type", "application/json")], ((body, 0),))

    # ---- writing -----------------------------------------------------------------------

    async def _answer(
        self, conn: h11.Connection, stream: anyio.abc.SocketStream, answer: Answer
    ) -> bool:
        """Send ``answer`` (pacing a stream); ``False`` if it was cut short or nobody waits."""
        if answer.delay_s and not await _hold(conn, stream, answer.delay_s):
            return False  # the client left during the latency
        if not answer.streaming:
            body = answer.chunks[0][0]
            if not answer.cut:
                await self._send(conn, stream, answer.status, answer.headers, body)
                return True
            headers = [*answer.headers, ("content-length", str(len(body)))]
            await stream.send(
                _wire(
                    conn,
                    h11.Response(
                        status_code=answer.status, headers=headers, reason=_reason(answer.status)
                    ),
                )
            )
            await stream.send(_wire(conn, h11.Data(data=body[: len(body) // 2])))
            return False
        response = h11.Response(
            status_code=answer.status, headers=answer.headers, reason=_reason(answer.status)
        )
        await stream.send(_wire(conn, response))
        cut_at = len(answer.chunks) // 2 if answer.cut else None
        for i, (data, tokens) in enumerate(answer.chunks):
            if i == cut_at:
                return False
            if tokens and answer.per_token_s:
                await anyio.sleep(tokens * answer.per_token_s)
            await stream.send(_wire(conn, h11.Data(data=data)))
        await stream.send(_wire(conn, h11.EndOfMessage()))
        return True

    @staticmethod
    async def _send(
        conn: h11.Connection,
        stream: anyio.abc.SocketStream,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        head = h11.Response(
            status_code=status,
            headers=[*headers, ("content-length", str(len(body)))],
            reason=_reason(status),
        )
        await stream.send(
            _wire(conn, head) + _wire(conn, h11.Data(data=body)) + _wire(conn, h11.EndOfMessage())
        )


def _instance_name(target: bytes) -> str:
    return target.decode("latin-1").split("?", 1)[0].lstrip("/").split("/", 1)[0]


def _not_found(method: str, path: str, too_large: int = 0) -> Answer:
    """404 (or 413) for a path that names no instance, OpenAI-shaped (the commoner client)."""
    message = f"Invalid URL ({method} {path}): no such simulator instance"
    if too_large:
        message = f"Request larger than {too_large} bytes"
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    body = json.dumps({"error": error}).encode()
    return Answer(413 if too_large else 404, [("content-type", "application/json")], ((body, 0),))


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Overloaded" if status == 529 else b""


def _wire(conn: h11.Connection, event: h11.Event) -> bytes:
    return conn.send(event) or b""


async def _next_event(conn: h11.Connection, stream: anyio.abc.SocketStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(_READ)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        conn.receive_data(data)


async def _refuse(
    conn: h11.Connection, stream: anyio.abc.SocketStream, status: int, message: str
) -> None:
    """Answer ``status`` if no answer has started, then let the connection close."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    with contextlib.suppress(*_CLOSED, h11.LocalProtocolError):
        await Simulator._send(conn, stream, status, [("content-type", "application/json")], body)


async def _linger(stream: anyio.abc.SocketStream) -> None:
    """After answering a request whose body was not read: stop sending, then discard what the
    client still sends (briefly), so closing does not reset the connection before the client
    has read the answer."""
    with anyio.move_on_after(1.0):
        try:
            await stream.send_eof()
            while await stream.receive(_READ):
                pass
        except _CLOSED:
            pass


async def _hold(conn: h11.Connection, stream: anyio.abc.SocketStream, delay: float | None) -> bool:
    """Wait ``delay`` seconds (forever if ``None``) unless the client closes the connection
    first; ``True`` if it is still there. Bytes that arrive meanwhile are kept for h11."""
    gone = False
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal gone
            try:
                while True:
                    conn.receive_data(await stream.receive(_READ))
            except _CLOSED:
                gone = True
                tg.cancel_scope.cancel()

        tg.start_soon(watch)
        if delay is None:
            await anyio.sleep_forever()
        else:
            await anyio.sleep(delay)
            tg.cancel_scope.cancel()
    return not gone


@asynccontextmanager
async def run_simulator(
    config: SimConfig | Mapping[str, Any], *, clock: Clock | None = None
) -> AsyncIterator[Simulator]:
    """Start a simulator on a free loopback port (unless the config names one), yield it, and
    stop it (listener and every connection) on exit (``clock``: as for :class:`Simulator`)::

        async with run_simulator({"instances": {"fast": {"kind": "openai"}}}) as sim:
            client = openai.AsyncOpenAI(base_url=sim.base_url("fast"), api_key="k")
    """
    simulator = Simulator(config, clock=clock)
    async with anyio.create_task_group() as tg:
        await tg.start(simulator.serve)
        try:
            yield simulator
        finally:
            tg.cancel_scope.cancel()

"""Streams returned by a ``wrap()``-ed function, watched on their way to the caller.

A wrapped function that streams returns before the answer (and its usage) has arrived. So the
router hands the caller a *watched* stream instead: it passes every event through unchanged,
reads the usage from the events as they go by (:class:`~agentroute.providers.usage.StreamUsage`),
and reports once, when the stream ends, how it ended: read to its end, closed early by the caller
(``async with`` left, ``close()`` / ``aclose()``, or dropped unread and garbage-collected), or
broken by an error. The attempt is charged and its span ended then. The event that completes
the usage report (the OpenAI chunk with ``usage``, Anthropic's ``message_stop``, the Responses
API's ``response.completed``) counts as the end: all of the answer has arrived by then, and a
loop that stops reading there without closing the stream (``break`` on the final event, the
stream kept in a variable) would otherwise be charged only when the stream is collected —
after the session's cost was read, and past a budget check.

What is watched, by the shape of what the function returned:

* an **async iterable** — the ``openai`` / ``anthropic`` SDKs' ``AsyncStream`` (from
  ``create(stream=True)``), a plain async generator, any async iterator: returned as a proxy
  (an SDK helper stream the function entered itself is treated as below);
* an **async context manager** that is not iterable — ``client.messages.stream(...)``'s
  ``AsyncMessageStreamManager``, the ``openai`` SDK's ``chat.completions.stream(...)`` and
  ``responses.stream(...)`` managers: entered *inside the attempt*, so that a failure to open it
  (a 429, a timeout) falls back like any other failed call, and returned as a manager whose
  ``async with`` gives the stream that was opened. The SDKs' helper streams
  (``AsyncMessageStream`` …) are handed back as they are (their ``text_stream``,
  ``get_final_message()`` and so on work unchanged); the raw event stream under them
  (their ``_raw_stream``) is the one watched. Any other entered object that is async iterable is
  watched as above;
* a **raw SDK response** whose ``parse()`` gives a stream (``with_raw_response`` with
  ``stream=True``, as LangChain's ``ChatOpenAI`` calls it): returned as a proxy whose
  ``parse()`` gives the watched stream.

The contract kept for the caller: every attribute and method of the real object is reached
through the proxy (``.response``, ``request_id``, ``get_final_message()`` …), iteration,
``async with``, ``close()`` and ``aclose()`` behave as the real object's, and
``isinstance(proxy, openai.AsyncStream)`` (or any class of the real object) is true, as for a
``unittest.mock`` spec or a ``wrapt`` proxy: the proxy reports the real object's class as its
``__class__``. ``type(proxy)`` is the proxy's own class. Errors raised while the stream is read
reach the caller as they are (the SDK's own exceptions, their type and identity kept, every
known secret in them and their chain masked: :func:`~agentroute._error_translation.translate`);
the attempt records their translation. Once the caller has the stream, nothing is retried behind
its back. A stream must be read or closed to be charged at once; one dropped
unread is charged when it is garbage-collected.
"""

from __future__ import annotations

import enum
import inspect
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import anyio

from agentroute._error_translation import translate
from agentroute._types import AttemptOutcome, Target, Usage
from agentroute.errors import ConfigurationError

__all__ = ["Ending", "Shape", "UsageReader", "shape_of", "watch", "watch_raw"]


class Shape(enum.Enum):
    """What a wrapped function's answer is, as far as watching it goes."""

    STREAM = "stream"
    MANAGER = "manager"
    RAW = "raw"


_SHAPES: dict[type, Shape | None] = {}


def shape_of(answer: object) -> Shape | None:
    """The answer's :class:`Shape`, ``None`` for a complete answer (decided once per type)."""
    kind = type(answer)
    try:
        return _SHAPES[kind]
    except KeyError:
        pass
    shape: Shape | None = None
    if kind is not dict:
        if hasattr(kind, "__anext__") or hasattr(kind, "__aiter__"):
            shape = Shape.STREAM
        elif hasattr(kind, "__aenter__"):
            shape = Shape.MANAGER
        elif callable(getattr(kind, "parse", None)) and hasattr(kind, "http_request"):
            shape = Shape.RAW
    _SHAPES[kind] = shape
    return shape


class UsageReader(Protocol):
    """Reads a stream's usage from its events (:class:`~agentroute.providers.usage.StreamUsage`)."""

    @property
    def usage(self) -> Usage | None: ...

    @property
    def complete(self) -> bool: ...

    def feed(self, event: object, /) -> None: ...


Finish = Callable[[Usage | None, AttemptOutcome, BaseException | None], None]
"""Told once how the stream ended: the usage it reported (``None``: none), the outcome, and the
error that broke it (translated: :func:`~agentroute._error_translation.translate`)."""


class Ending:
    """One watched stream's reader and its report: whatever way it ends, reported once —
    at the event that completes its usage report when it gets that far (a caller that stops
    reading there and keeps the stream open is charged at once, not when it is collected)."""

    __slots__ = ("_finish", "_target", "reader")

    def __init__(self, reader: UsageReader, finish: Finish, target: Target) -> None:
        self.reader = reader
        self._finish: Finish | None = finish
        self._target = target

    def feed(self, event: object) -> None:
        """Read ``event``'s usage, and report the stream as ended once its usage report is
        complete (its answer has arrived: what may follow carries no usage). Raises
        ConfigurationError when its usage is garbage."""
        reader = self.reader
        try:
            reader.feed(event)
        except (ValueError, TypeError, AttributeError) as exc:
            err = ConfigurationError(
                f"cannot read token usage from a {type(event).__name__} event of the stream "
                f"from {self._target.key}: {exc}"
            )
            err.__cause__ = exc  # masked with it, by broke()
            self.broke(err)
            raise err from exc
        if reader.complete and self._finish is not None:
            self._report("ok", None)

    def ran_out(self) -> None:
        """Read to its end."""
        self._report("ok", None)

    def broke(self, exc: BaseException) -> None:
        """Broken by ``exc`` (masked here, in place, even when the end was reported already:
        the caller gets it next)."""
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            self._report("cancelled", None)
        else:
            self._report("error", translate(exc, self._target))

    def closed(self) -> None:
        """Closed (or dropped) by the caller: complete if its usage report had been read."""
        self._report("ok" if self.reader.complete else "cancelled", None)

    def _report(self, outcome: AttemptOutcome, exc: BaseException | None) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(self.reader.usage, outcome, exc)


class _Proxy:
    """Forwards what it does not define to the real object, and reports its class."""

    __slots__ = ("__weakref__", "_ending", "_source")

    def __init__(self, source: Any, ending: Ending) -> None:
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_ending", ending)

    def _charge_when_dropped(self) -> None:
        """A stream dropped unread (never closed) is settled when it is garbage-collected."""
        weakref.finalize(self, self._ending.closed).atexit = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the real object's class
        return type(self._source)

    def __getattr__(self, name: str) -> Any:
        # not ``self._source``: on a copy not yet set up, that would come back here forever
        return getattr(object.__getattribute__(self, "_source"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._source, name, value)

    def __repr__(self) -> str:
        return repr(self._source)


class WatchedStream(_Proxy):
    """An async iterable (an SDK ``AsyncStream``, an async generator …), watched."""

    __slots__ = ("_iterator",)

    def __init__(self, source: Any, ending: Ending) -> None:
        super().__init__(source, ending)
        object.__setattr__(self, "_iterator", None)
        self._charge_when_dropped()

    def __aiter__(self) -> WatchedStream:
        return self

    async def __anext__(self) -> Any:
        iterator = self._iterator
        if iterator is None:
            source = self._source
            iterator = source if hasattr(source, "__anext__") else source.__aiter__()
            object.__setattr__(self, "_iterator", iterator)
        try:
            event = await iterator.__anext__()
        except StopAsyncIteration:
            self._ending.ran_out()
            raise
        except BaseException as exc:
            self._ending.broke(exc)
            raise
        self._ending.feed(event)
        return event

    async def asend(self, value: Any) -> Any:
        if value is None:
            return await self.__anext__()
        return await self._source.asend(value)

    async def __aenter__(self) -> WatchedStream:
        enter = getattr(self._source, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            leave = getattr(self._source, "__aexit__", None)
            if leave is not None:
                return bool(await leave(exc_type, exc, tb))
            await _close(self._source)
            return None
        finally:
            self._ending.closed()

    async def close(self) -> None:
        try:
            await _close(self._source)
        finally:
            self._ending.closed()

    async def aclose(self) -> None:
        try:
            await _close(self._source, "aclose")
        finally:
            self._ending.closed()


class WatchedManager(_Proxy):
    """An async context manager that was entered inside the attempt; ``async with`` gives the
    stream it opened, and leaving it ends the watch."""

    __slots__ = ("_entered",)

    def __init__(self, source: Any, entered: Any, ending: Ending, *, watched: bool) -> None:
        super().__init__(source, ending)
        object.__setattr__(self, "_entered", entered)
        if not watched:  # else the watched stream inside settles it when dropped
            self._charge_when_dropped()

    async def __aenter__(self) -> Any:
        return self._entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            return bool(await self._source.__aexit__(exc_type, exc, tb))
        finally:
            self._ending.closed()


class WatchedRawResponse(_Proxy):
    """A raw SDK response whose ``parse()`` gives the watched stream."""

    __slots__ = ("_async", "_parsed")

    def __init__(self, source: Any, parsed: WatchedStream, ending: Ending, *, is_async: bool):
        super().__init__(source, ending)
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_async", is_async)

    def parse(self, **kwargs: Any) -> Any:
        if kwargs:  # parsed into another type: the caller's own business
            return self._source.parse(**kwargs)
        if self._async:
            return _ready(self._parsed)
        return self._parsed


async def _ready(value: Any) -> Any:
    return value


async def _close(source: Any, preferred: str = "close") -> None:
    other = "aclose" if preferred == "close" else "close"
    close = getattr(source, preferred, None) or getattr(source, other, None)
    if close is not None:
        pending = close()
        if inspect.isawaitable(pending):
            await pending


async def watch(answer: Any, shape: Shape, ending: Ending) -> Any:
    """What the caller gets for a streamed ``answer`` (a stream or a manager): the same thing,
    watched. A manager is entered here, inside the attempt."""
    if shape is Shape.MANAGER:
        entered, watched = _watch_entered(await answer.__aenter__(), ending)
        return WatchedManager(answer, entered, ending, watched=watched)
    return _watch_entered(answer, ending)[0]  # an SDK helper stream entered by the function


def watch_raw(raw: Any, parsed: Any, ending: Ending, is_async: bool) -> Any:
    """A raw response whose ``parse()`` gave the stream ``parsed``, watched."""
    return WatchedRawResponse(raw, WatchedStream(parsed, ending), ending, is_async=is_async)


def _watch_entered(entered: Any, ending: Ending) -> tuple[Any, bool]:
    """What a manager's ``async with`` gives, watched, and whether anything is watched (an
    SDK helper stream keeps its type: the raw stream it reads is watched instead)."""
    raw = getattr(entered, "_raw_stream", None)
    if raw is not None and shape_of(raw) is Shape.STREAM:
        entered._raw_stream = WatchedStream(raw, ending)
        return entered, True
    if shape_of(entered) is Shape.STREAM:
        return WatchedStream(entered, ending), True
    return entered, False

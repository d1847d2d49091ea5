"""The one rule for an exception agentroute catches: translated, located, and masked of secrets.

Every path that catches what something outside agentroute raised — a provider or its HTTP
client, a ``wrap()``-ed function, a stream broken midway, a state store — goes through this
module, so a secret quoted anywhere in that exception reaches neither the caller, nor a log
event, nor a span, whichever path it took:

* :func:`translate` says what to raise (or record) for an exception: a provider fault from
  outside the error tree becomes the :class:`~agentroute.errors.ProviderError` it stands for
  (classified by duck typing, :func:`~agentroute.providers.classify.classify_exception`), to be
  raised ``from`` the original; an error of the tree, or anything else (a programming error),
  is itself. Either way the exception and every link chained to it are masked in place
  (:func:`~agentroute._error_scrub.scrub_exception`), and a provider error is located: where
  it happened is filled in (what is already set is kept).
* :func:`error_text` is an exception's text for a log event or a span: masked, and empty when
  its ``__str__`` fails (a log line is no place for a second error).

The raising pattern at a catch site is then always the same::

    except Exception as exc:
        err = translate(exc, target)
        if err is exc:
            raise
        raise err from exc

Cancellation, ``KeyboardInterrupt`` and the other ``BaseException`` that are not ``Exception``
are control flow, not errors: :func:`translate` hands them back untouched.
"""

from __future__ import annotations

from typing import TypeAlias, overload

from agentroute._error_scrub import scrub_exception
from agentroute._secrets import redact
from agentroute._types import Target
from agentroute.errors import AgentRouteError, ProviderError
from agentroute.providers.classify import classify_exception

__all__ = ["Where", "error_text", "translate"]

Where: TypeAlias = Target | str | None
"""Where an error happened: the attempt's target, only the provider's name (the HTTP layer
knows no more), or not known."""


@overload
def translate(exc: ProviderError, where: Where = None) -> ProviderError: ...


@overload
def translate(exc: BaseException, where: Where = None) -> BaseException: ...


def translate(exc: BaseException, where: Where = None) -> BaseException:
    """What to raise for ``exc``, caught at ``where``: ``exc`` itself (an error of the tree,
    located; a programming error; cancellation) or a new ProviderError to raise ``from exc``.
    ``exc``, its chain and the new error hold no known secret value afterwards."""
    if not isinstance(exc, Exception):
        return exc
    scrub_exception(exc)
    if isinstance(exc, AgentRouteError):
        return _located(exc, where) if isinstance(exc, ProviderError) else exc
    err = classify_exception(exc)
    if err is None:
        return exc
    scrub_exception(err)  # built from the response too (its JSON or text), not only from exc
    return _located(err, where)


def _located(err: ProviderError, where: Where) -> ProviderError:
    if isinstance(where, Target):
        return err.located(provider=where.provider, model=where.model, deployment=where.deployment)
    if where is not None:
        err.provider = err.provider or where
    return err


def error_text(exc: BaseException) -> str:
    """``str(exc)`` with every known secret masked (``""`` when ``str()`` itself fails)."""
    try:
        text = str(exc)
    except Exception:
        return ""
    return redact(text)

"""How a wrapped function's parameters map to a routed call: :class:`CallShape`, worked out
once, at ``Router.wrap()``.

A wrapped function may take its parameters in any shape Python allows: the model parameter
first (``litellm.acompletion(model, messages, ...)``) or keyword-only (the SDKs' ``create``),
positional-only parameters, ``*args``/``**kwargs`` that forward everything, partials, bound
methods, callable objects. The caller calls the routed function by its own signature (the
function's, minus what the router supplies); the router calls the function back with the
arguments in the slots the function declares. The common case (the messages are the first
positional parameter) takes a fast path that binds nothing per call.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from agentroute.errors import ConfigurationError

__all__ = ["CONFIGURED", "CallShape"]

_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
_VAR = (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
_KEYWORD = (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)


class _Configured:
    """The default the routed signature shows for a keyword only some deployments supply."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<configured>"


CONFIGURED: Any = _Configured()
"""Shown as ``<configured>`` in the routed signature: the router supplies this keyword for
some deployments; never passed to the function."""

TerminalMode = Literal["first", "keywords", "general"]
"""How the terminal calls the function: ``fn(messages, **kw)`` (the messages are its first
parameter), ``fn(**kw)`` (everything by keyword), or by :meth:`CallShape.arguments`."""


@dataclasses.dataclass(frozen=True, slots=True)
class CallShape:
    """How one wrapped function's parameters map to a routed call.

    Attributes:
        name: the function's name, for messages.
        signature: the routed function's signature: the function's, minus the model parameter
            and minus every keyword argument that all deployments supply (``base_url``,
            ``api_key``, … from the config's ``kwargs``).
        model_param: where the chosen deployment's model name goes.
        messages_param: the messages' parameter (a name the caller may pass by keyword).
        messages_named: the messages are a named parameter of the function (else they arrive
            through its ``*args`` or ``**kwargs``, and go back the way the caller passed them).
        dropped: names a caller's value is dropped for: the router supplies them, always.
        partly_supplied: keyword names some deployments supply, but not all → those that do.
            In the routed signature they are optional (default :data:`CONFIGURED`): a call
            may leave them to the router, or pass them for the deployments that do not.
        needs: the names the function requires among those: a call routed to a deployment
            that does not supply one, and that did not pass it, is refused by name.
        messages_first: the routed function's first parameter is the messages (a call with
            them as its one positional argument may take the fast path).
        messages_keyword: the messages may be passed by keyword, and no other parameter is
            positional-only (a call with keyword arguments only may take the fast path).
        any_keyword: the routed function takes ``**kwargs``.
        keywords: the names it takes by keyword (the messages' included).
        required: the names a call must pass, besides the messages.
        mode: how the terminal calls the function.
        positional_only: the function's positional-only parameters with their defaults.
        leading: its other positional parameters with their defaults (passed by position only
            when ``*args`` values follow them).
        var_positional: the name of its ``*args`` parameter, if any.
    """

    name: str
    signature: inspect.Signature
    model_param: str
    messages_param: str
    messages_named: bool
    dropped: tuple[str, ...]
    partly_supplied: Mapping[str, tuple[str, ...]]
    needs: frozenset[str]
    messages_first: bool
    messages_keyword: bool
    any_keyword: bool
    keywords: frozenset[str]
    required: frozenset[str]
    mode: TerminalMode
    positional_only: tuple[tuple[str, Any], ...]
    leading: tuple[tuple[str, Any], ...]
    var_positional: str | None

    @classmethod
    def of(
        cls,
        fn: Callable[..., Any],
        *,
        name: str,
        model_param: str,
        messages_param: str | None,
        supplied: Mapping[str, Sequence[str]],
    ) -> CallShape:
        """The shape of ``fn``; ``supplied`` is every deployment's configured keyword names.

        Raises:
            ConfigurationError: no model or messages parameter, both the same, a configured
                keyword argument ``fn`` cannot take, or a signature that cannot be read.
        """
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"wrap(): cannot read the signature of {name}: {exc}"
            ) from None
        params = sig.parameters
        kinds = {p.name: p.kind for p in params.values()}
        var_kw = _P.VAR_KEYWORD in kinds.values()
        var_pos = next((p.name for p in params.values() if p.kind is _P.VAR_POSITIONAL), None)
        if kinds.get(model_param) in _VAR or (model_param not in params and not var_kw):
            raise ConfigurationError(
                f"wrap(): {name} has no parameter {model_param!r} for the model; "
                "name it with wrap(fn, model_param=...)"
            )
        every = [frozenset(names) for names in supplied.values()]
        always = frozenset.intersection(*every) if every else frozenset()
        if messages_param is None:
            firsts = [
                p.name
                for p in params.values()
                if p.kind in _POSITIONAL and p.name != model_param and p.name not in always
            ]
            messages_param = "messages" if "messages" in params or not firsts else firsts[0]
        if kinds.get(messages_param) in _VAR or (
            messages_param not in params and not (var_kw or var_pos)
        ):
            raise ConfigurationError(
                f"wrap(): {name} has no parameter {messages_param!r} for the messages; "
                "name it with wrap(fn, messages_param=...)"
            )
        if messages_param == model_param:
            raise ConfigurationError(
                f"wrap(): {model_param!r} cannot be both the model and the messages parameter"
            )
        _check_supplied(name, supplied, kinds, var_kw, messages_param)
        dropped = (model_param, *sorted(always - {model_param}))
        partly: dict[str, list[str]] = {}
        for where, names in supplied.items():
            for key in sorted(set(names) - always):
                partly.setdefault(key, []).append(where)
        public = [p for p in params.values() if p.name not in dropped]
        needs = frozenset(
            p.name
            for p in public
            if p.name in partly and p.default is _P.empty and p.kind not in _VAR
        )
        try:
            signature = sig.replace(
                parameters=[p.replace(default=CONFIGURED) if p.name in needs else p for p in public]
            )
        except ValueError:  # a default before a required positional one: the caller passes it
            signature, needs = sig.replace(parameters=public), frozenset()
        public = list(signature.parameters.values())
        named = messages_param in params
        fn_params = list(params.values())
        posonly = [p for p in fn_params if p.kind is _P.POSITIONAL_ONLY]
        if (
            var_pos is None
            and named
            and fn_params[0].name == messages_param
            and fn_params[0].kind in _POSITIONAL
            and all(p.kind is not _P.POSITIONAL_ONLY for p in fn_params[1:])
            and kinds.get(model_param) is not _P.POSITIONAL_ONLY
        ):
            mode: TerminalMode = "first"
        elif var_pos is None and not posonly:
            mode = "keywords"
        else:
            mode = "general"
        return cls(
            name=name,
            signature=signature,
            model_param=model_param,
            messages_param=messages_param,
            messages_named=named,
            dropped=dropped,
            partly_supplied={k: tuple(v) for k, v in partly.items()},
            needs=needs,
            messages_first=bool(public)
            and named
            and public[0].name == messages_param
            and public[0].kind in _POSITIONAL,
            messages_keyword=(kinds[messages_param] in _KEYWORD if named else var_kw)
            and all(p.kind is not _P.POSITIONAL_ONLY or p.name == messages_param for p in public),
            any_keyword=var_kw,
            keywords=frozenset(p.name for p in public if p.kind in _KEYWORD),
            required=frozenset(
                p.name
                for p in public
                if p.default is _P.empty and p.kind not in _VAR and p.name != messages_param
            ),
            mode=mode,
            positional_only=tuple((p.name, p.default) for p in posonly),
            leading=tuple(
                (p.name, p.default) for p in fn_params if p.kind is _P.POSITIONAL_OR_KEYWORD
            ),
            var_positional=var_pos,
        )

    def bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, dict[str, Any], bool]:
        """The slow path: name every argument of a call to the routed function, then take the
        messages out. Returns ``(messages, params by name, whether the messages came by
        position through *args)``; extra ``*args`` values stay in the params under the
        ``*args`` parameter's name.

        Raises:
            ConfigurationError: the arguments do not fit the signature (saying why).
        """
        sig = self.signature
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise ConfigurationError(self._bad_call(str(exc))) from None
        named: dict[str, Any] = {}
        for key, value in bound.arguments.items():
            kind = sig.parameters[key].kind
            if kind is _P.VAR_KEYWORD:
                if self.var_positional in value:
                    raise ConfigurationError(
                        f"bad arguments for {self.name}: keyword {self.var_positional!r} has "
                        f"the name of its *{self.var_positional} parameter"
                    )
                named.update(value)
            elif kind is not _P.VAR_POSITIONAL or value:
                named[key] = value
        param = self.messages_param
        if param in named:
            return named.pop(param), named, False
        if self.messages_named:  # not passed: the parameter has a default
            return sig.parameters[param].default, named, False
        extra = named.get(self.var_positional or "")
        if extra:
            if len(extra) > 1:
                named[self.var_positional or ""] = extra[1:]
            else:
                del named[self.var_positional or ""]
            return extra[0], named, True
        raise ConfigurationError(
            f"bad arguments for {self.name}: called without the messages (the first positional "
            f"argument, or {param}=...)"
        )

    def missing(self, merged: Mapping[str, Any], where: str) -> ConfigurationError:
        """The error for a call to ``where`` that lacks one of :attr:`needs`."""
        names = ", ".join(repr(n) for n in sorted(self.needs.difference(merged)))
        return ConfigurationError(
            f"{self.name} needs {names}, which the kwargs of {where} do not configure and the "
            "call did not pass"
        )

    def _bad_call(self, why: str) -> str:
        text = f"bad arguments for {self.name}: {why}"
        for key, where in self.partly_supplied.items():
            if f"'{key}'" in why:
                text += (
                    f" (the router supplies {key!r} only for {', '.join(where)}: configure it in "
                    "the kwargs of every provider, or pass it)"
                )
        return text

    def arguments(
        self, messages: Any, merged: dict[str, Any], by_position: bool
    ) -> tuple[list[Any], dict[str, Any]]:
        """``(args, kwargs)`` for a function whose parameters need slots (positional-only ones,
        ``*args``): ``merged`` is every argument by name (the caller's, the deployment's and
        the model), taken apart in place."""
        if not by_position:
            merged[self.messages_param] = messages
        args: list[Any] = []
        if not _fill(args, self.positional_only, merged):
            return args, merged  # a required one is missing: the function says which
        extra = merged.pop(self.var_positional, ()) if self.var_positional else ()
        if extra or by_position:
            if not _fill(args, self.leading, merged):
                return args, merged
            if by_position:
                args.append(messages)
            args.extend(extra)
        return args, merged


def _fill(args: list[Any], slots: tuple[tuple[str, Any], ...], merged: dict[str, Any]) -> bool:
    """Append each slot's value (given, else its default); False at the first one missing."""
    for name, default in slots:
        if name in merged:
            args.append(merged.pop(name))
        elif default is not _P.empty:
            args.append(default)
        else:
            return False
    return True


def _check_supplied(
    name: str,
    supplied: Mapping[str, Sequence[str]],
    kinds: Mapping[str, Any],
    var_kw: bool,
    messages_param: str,
) -> None:
    """Refuse, at wrap() time, a configured keyword argument the function could not take."""
    for where, names in supplied.items():
        for key in names:
            if key == messages_param:
                raise ConfigurationError(
                    f"wrap(): the kwargs of {where} set {key!r}, the messages parameter of {name}"
                )
            takes = kinds[key] not in _VAR if key in kinds else var_kw
            if not takes:
                raise ConfigurationError(
                    f"wrap(): the kwargs of {where} set {key!r}, which {name} does not take "
                    "(no such parameter and no **kwargs)"
                )

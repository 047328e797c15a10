"""Jinja2 environments (autoescaped, one per language with its catalog) and `render`, which
every page uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.ext import Extension
from jinja2.lexer import (
    TOKEN_ASSIGN,
    TOKEN_COMMA,
    TOKEN_DOT,
    TOKEN_LPAREN,
    TOKEN_NAME,
    TOKEN_RPAREN,
    TOKEN_STRING,
    Token,
    TokenStream,
)

from nubo.identity.principal import Principal
from nubo.web import i18n
from nubo.web.session import CSRF_FIELD, anonymous_csrf, optional_user, remember_pre_session
from nubo.web.static import static_url

TEMPLATES = Path(__file__).parent / "templates"


class FoldedCalls(Extension):
    """`_("…")`, `gettext("…")` and `static_url("…")` with literal arguments only (a message
    and, for a message, literal values: `_("Engine %(n)s", n="{n}")`) give the same text on
    every render of an environment (there is one per language, and a static file's hash is
    read once per process): the template is compiled with that text in their place, a
    literal that autoescaping escapes once, at compile time. A page then makes no call for
    its fixed words. Calls with a variable are left as they are."""

    FOLDED = ("_", "gettext", "static_url")

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        tokens = list(stream)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            folded = None
            if (
                token.type == TOKEN_NAME
                and token.value in self.FOLDED
                and (i == 0 or tokens[i - 1].type != TOKEN_DOT)
            ):
                folded = self._fold(token, tokens, i + 1)
            if folded is None:
                yield token
                i += 1
            else:
                text, i = folded
                yield Token(token.lineno, TOKEN_STRING, text)

    def _fold(self, name: Token, tokens: list[Token], i: int) -> tuple[str, int] | None:
        """The call's text and the index after it, when `tokens[i:]` is `("…", k="…", …)`."""
        if [t.type for t in tokens[i : i + 2]] != [TOKEN_LPAREN, TOKEN_STRING]:
            return None
        message, values, i = tokens[i + 1].value, {}, i + 2
        while [t.type for t in tokens[i : i + 4]] == [
            TOKEN_COMMA, TOKEN_NAME, TOKEN_ASSIGN, TOKEN_STRING
        ]:
            values[tokens[i + 1].value] = tokens[i + 3].value
            i += 4
        if i >= len(tokens) or tokens[i].type != TOKEN_RPAREN:
            return None
        function = cast(Callable[..., str], self.environment.globals[name.value])
        try:
            return function(message, **values), i + 1
        except (TypeError, KeyError, ValueError):
            return None  # not a call that can be made once: left to the render


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[FoldedCalls],
    )
    translations = i18n.translations(language)

    def gettext(message: str, **values: Any) -> str:
        # A plain string: autoescaping escapes it (and its values) when it is output.
        text = translations.ugettext(message)
        return text % values if values else text

    env.globals.update(
        _=gettext,
        gettext=gettext,
        static_url=static_url,
        csrf_field=CSRF_FIELD,
        languages=i18n.LANGUAGE_NAMES,
        fmt=i18n.formats(language),
        lang=i18n.html_lang(language),
        language=language,
        dict_translate=lambda words: {k: translations.ugettext(v) for k, v in words.items()},
    )
    return env


@dataclass(frozen=True, slots=True)
class Notice:
    """A line shown above every page to a signed-in user: `message` is marked with `N_`
    (translated when shown), `values` fill its `%(name)s` placeholders."""

    message: str
    values: dict[str, str]


NoticeSource = Callable[[Request, Principal], Awaitable[list[Notice]]]
# Domains add what their users must be told on every page (e.g. a disabled webhook).
NOTICES: list[NoticeSource] = []


async def notices_for(request: Request, user: Principal) -> list[Notice]:
    return [notice for source in NOTICES for notice in await source(request, user)]


async def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render `template` in the request's language, with the caller, a CSRF token and the
    caller's notices."""
    user = await optional_user(request)
    values: dict[str, Any] = {
        "request": request,
        "user": user.principal if user else None,
        "notices": await notices_for(request, user.principal) if user else [],
        "csrf": user.csrf if user else anonymous_csrf(request),
        "path": request.url.path,
        "error": None,
        "invalid": [],
        **(context or {}),
    }
    body = environment(i18n.negotiate(request)).get_template(template).render(values)
    response = HTMLResponse(body, status_code=status)
    remember_pre_session(request, response)
    return response

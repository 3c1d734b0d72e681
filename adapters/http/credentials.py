"""The bearer token an HTTP client sends: a fixed one, or one a token provider hands over.

A provider (a callable, sync or async) is asked at the first request and again when the backend
refuses the token (401/403): the refused request goes once more with a fresh token. Every token
ever held is scrubbed from what the server sends back. A provider that fails, gives nothing, a
token that cannot travel in a header, or the same token again, is a refusal, never a crash.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias

from walsync.core.errors import InvalidToken
from walsync.core.redaction import TokenScrubber, check_token

__all__ = ["Credentials", "TokenProvider"]

TokenProvider: TypeAlias = Callable[[], "str | Awaitable[str | None] | None"]
_LOG: Final = logging.getLogger("walsync.http")


class Credentials:
    """The token in use and how to get a fresh one; safe to use from any thread."""

    def __init__(self, token: str | TokenProvider, *, timeout: float) -> None:
        self._provider: TokenProvider | None = None
        self._token: str | None = None
        self._scrubbers: list[TokenScrubber] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeout = timeout
        if isinstance(token, str):
            check_token(token)  # before it can reach a header, an error message or the log
            self._use(token)
        else:
            self._provider = token

    def current(self) -> str | None:
        """The token to send (asking the provider first when none is held yet)."""
        if self._token is None:
            self.renew()
        return self._token

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run an async provider on `loop` (an asyncio app's, where its sessions live)."""
        self._loop = loop

    def renew(self, used: str | None = None) -> bool:
        """Ask the provider for a token. True when a token other than `used` (the one a refused
        request carried) is now held: a fresh one, or one another request renewed meanwhile."""
        if self._provider is None:
            return False
        with self._lock:
            if self._token is not None and self._token != used:
                return True
            try:
                fresh = self._ask(self._provider)
                if fresh is None:
                    return False
                check_token(fresh)
            except InvalidToken as error:
                _LOG.warning("the token provider gave a token that cannot be sent: %s", error)
                return False
            except Exception as error:  # a provider's failure is a refusal, never a crash
                _LOG.warning("the token provider failed: %s", type(error).__name__)
                return False
            if fresh == self._token:
                return False
            self._use(fresh)
            return True

    def scrub(self, text: str) -> str:
        """`text` without any token ever held."""
        for scrubber in self._scrubbers:
            text = scrubber(text)
        return text

    def _ask(self, provider: TokenProvider) -> str | None:
        value = provider()
        if not inspect.isawaitable(value):
            return value

        async def awaited() -> str | None:
            return await value

        loop = self._loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(awaited(), loop).result(timeout=self._timeout)
        return asyncio.run(awaited())

    def _use(self, token: str) -> None:
        self._token = token
        self._scrubbers.append(TokenScrubber(token))

"""A user name and password that never shows its password.

The password lives in a :class:`_Secret` whose ``repr`` is a mask, so it stays out of logs,
reprs, rich tracebacks with locals and error messages; neither object can be pickled (a pickle
on disk is a password in clear text). Sources, in the order :meth:`Credential.resolve` tries
them: explicit arguments, ``AOBO_USERNAME``/``AOBO_PASSWORD``, the OS keyring (``aobo login``),
then a prompt like PowerShell's Get-Credential when a terminal is attached.
"""

from __future__ import annotations

import getpass
import hmac
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aobo.toolkit.errors import ToolkitError

ENV_USERNAME = "AOBO_USERNAME"
ENV_PASSWORD = "AOBO_PASSWORD"
MASK = "******"
SERVICE_PREFIX = "aobo:"


class CredentialError(ToolkitError):
    """No usable credential: a missing variable, an empty keyring entry, a refused prompt."""


def _refuse_pickle(kind: str) -> NoReturn:
    raise TypeError(f"{kind} objects cannot be pickled: that would write the password in clear text")


class _Secret:
    """Holds the password; its repr and str are the mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return repr(MASK)

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("Secret")


def keyring_service(uri: str | None) -> str:
    """The keyring service name for an endpoint: ``aobo:<host>`` (``aobo:`` alone without one)."""
    host = (urlsplit(uri).hostname or "") if uri else ""
    return f"{SERVICE_PREFIX}{host.lower()}"


class Credential:
    """``Credential("admin@x", "pw")``; ``cred.password()`` returns the password, nothing else shows it."""

    __slots__ = ("_secret", "_username")

    def __init__(self, username: str, password: str) -> None:
        if not isinstance(password, str):
            raise TypeError("the password must be a str")
        secret = _Secret(password)
        del password  # keep it out of this frame's locals should a check below raise
        if not isinstance(username, str) or not username.strip():
            raise CredentialError("a credential needs a user name")
        if not secret.reveal():
            raise CredentialError(f"the password for {username.strip()} is empty")
        object.__setattr__(self, "_username", username.strip())
        object.__setattr__(self, "_secret", secret)

    @property
    def username(self) -> str:
        return self._username

    def password(self) -> str:
        """The password in clear: pass it straight to the transport, never to a log or a message."""
        return self._secret.reveal()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Credential is immutable")

    def __repr__(self) -> str:
        # getattr: a traceback may show a half-built instance whose __init__ raised.
        return f"Credential({getattr(self, '_username', '?')!r}, {MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credential):
            return NotImplemented
        same_user = self._username.lower() == other._username.lower()
        return same_user and hmac.compare_digest(self.password().encode(), other.password().encode())

    def __hash__(self) -> int:
        return hash(self._username.lower())

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("Credential")

    def __copy__(self) -> Credential:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Credential:
        return self

    # ------------------------------------------------------------------ sources

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credential:
        """From ``AOBO_USERNAME`` and ``AOBO_PASSWORD``; the error names whichever is missing."""
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_USERNAME, ENV_PASSWORD) if not env.get(name)]
        if missing:
            raise CredentialError(f"environment variable {' and '.join(missing)} is not set")
        return cls(env[ENV_USERNAME], env[ENV_PASSWORD])

    @classmethod
    def prompt(
        cls,
        username: str | None = None,
        *,
        ask_username: Callable[[str], str] = input,
        ask_password: Callable[[str], str] = getpass.getpass,
    ) -> Credential:
        """Ask like Get-Credential: the user name (unless given), then the password without echo."""
        try:
            name = username or ask_username("User name: ").strip()
            if not name:
                raise CredentialError("no user name given")
            return cls(name, ask_password(f"Password for {name}: "))
        except EOFError:
            raise CredentialError("no credential: the prompt got end of input") from None

    @classmethod
    def from_keyring(cls, username: str, service: str | None = None, *, uri: str | None = None) -> Credential:
        """The password ``aobo login`` stored for ``username`` under ``service`` (default ``aobo:<uri host>``)."""
        service = service or keyring_service(uri)
        password = _keyring_get(service, username)
        if password is None:
            raise CredentialError(
                f"no password for {username} in the keyring (service {service!r}); run `aobo login` first"
            )
        return cls(username, password)

    def store_in_keyring(self, service: str | None = None, *, uri: str | None = None) -> str:
        """Save the password in the OS keyring; returns the service name used."""
        import keyring
        import keyring.errors

        service = service or keyring_service(uri)
        try:
            keyring.set_password(service, self._username, self.password())
        except keyring.errors.KeyringError as exc:
            raise CredentialError(f"cannot store the password in the keyring: {type(exc).__name__}: {exc}") from None
        return service

    @classmethod
    def resolve(
        cls,
        credential: Credential | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        uri: str | None = None,
        service: str | None = None,
        interactive: bool | None = None,
        environ: Mapping[str, str] | None = None,
        ask_password: Callable[[str], str] = getpass.getpass,
    ) -> Credential:
        """The first credential found: explicit > environment > keyring > prompt (only when interactive).

        ``AOBO_PASSWORD`` is used for ``username`` only when ``AOBO_USERNAME`` is unset or names the
        same account; ``interactive`` defaults to whether standard input is a terminal.
        """
        if credential is not None:
            return credential
        env = os.environ if environ is None else environ
        env_user = env.get(ENV_USERNAME) or None
        name = username or env_user
        if password and name:
            return cls(name, password)
        del password
        if name and (env_user is None or env_user.lower() == name.lower()) and env.get(ENV_PASSWORD):
            return cls(name, env[ENV_PASSWORD])
        tried = [f"{ENV_USERNAME}/{ENV_PASSWORD}"]
        if name:
            service = service or keyring_service(uri)
            stored = _keyring_get(service, name)
            if stored is not None:
                return cls(name, stored)
            tried.append(f"the keyring (service {service!r})")
        if interactive is None:
            interactive = sys.stdin is not None and sys.stdin.isatty()
        if interactive:
            return cls.prompt(name, ask_password=ask_password)
        who = f" for {name}" if name else " (no user name: give --username or set AOBO_USERNAME)"
        raise CredentialError(f"no credential{who}: tried {', '.join(tried)}, and there is no terminal to prompt")


def _keyring_get(service: str, username: str) -> str | None:
    """The stored password, or None when there is none or no usable keyring at all (CI, containers)."""
    import keyring
    import keyring.errors

    try:
        return keyring.get_password(service, username)
    except keyring.errors.KeyringError:
        return None


__all__ = ["Credential", "CredentialError", "keyring_service"]

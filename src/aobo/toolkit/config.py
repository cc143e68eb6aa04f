"""Connection profiles in ``$XDG_CONFIG_HOME/aobo/config.toml`` (``~/.config/aobo/config.toml``).

::

    default = "work"            # optional; else the profile named "default", else none at all

    [profiles.work]
    uri = "https://rps.example.net:8443/powershell-liveid"
    username = "admin@northwindit.onmicrosoft.com"
    ca_file = "northwind-ca.pem"  # relative to this file's folder; ~ is expanded
    insecure = false
    concurrency = 3

    [profiles.rest]             # Exchange Online's REST API with OAuth (Microsoft's endpoints by default)
    transport = "rest"
    username = "admin@northwindit.onmicrosoft.com"
    authority = "https://localhost:8443"    # the identity service; default https://login.microsoftonline.com
    uri = "https://localhost:8443"          # the REST service; default https://outlook.office365.com
    # client_id = "..."         # public client for delegated sign-in (default: the Exchange Online module's)
    # app_id = "..."            # app-only sign-in; its secret in AOBO_CLIENT_SECRET, or:
    # certificate = "app.pem"   # its private key and certificate
    # token_cache = "~/.cache/aobo/msal-token-cache.json"

A profile holds no password (that is the keyring's job). Options given on the command line win
over the profile, which wins over the built-in defaults. Mistakes (an unknown profile or key, a
value of the wrong type) are errors that name the file, the profile and the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aobo.toolkit.errors import ToolkitError

DEFAULT_PROFILE = "default"
DEFAULT_CONCURRENCY = 3
#: REST has no session limit: tenants at once when neither the profile nor the command line says.
DEFAULT_REST_CONCURRENCY = 16
TRANSPORTS = ("rps", "rest")
KEYS = (
    "uri",
    "username",
    "ca_file",
    "insecure",
    "concurrency",
    "transport",
    "authority",
    "client_id",
    "app_id",
    "certificate",
    "token_cache",
)
_PATH_KEYS = ("ca_file", "certificate", "token_cache")


class ConfigError(ToolkitError):
    """The configuration file or a profile in it is unusable."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    uri: str | None = None
    username: str | None = None
    ca_file: Path | None = None
    insecure: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    transport: str = "rps"
    authority: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    certificate: Path | None = None
    token_cache: Path | None = None
    #: The file it came from; None for a profile made of options alone.
    source: Path | None = None
    #: Whether concurrency was set (file or option), rather than the default.
    concurrency_given: bool = dataclasses.field(default=False, compare=False)

    @property
    def effective_concurrency(self) -> int:
        """Sessions (RPS) or tenants (REST) at once: as set, else 3 for RPS and 16 for REST."""
        if self.concurrency_given or self.transport != "rest":
            return self.concurrency
        return DEFAULT_REST_CONCURRENCY

    def merged(self, **options: Any) -> Profile:
        """This profile with every option that is not None put over it (explicit options win).

        A CA file given explicitly switches off a profile's ``insecure`` and vice versa, so the
        command line can always say which of the two it wants.
        """
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - set(KEYS)
        if unknown:
            raise TypeError(f"unknown profile option(s): {', '.join(sorted(unknown))}")
        if "ca_file" in given and "insecure" not in given:
            given["insecure"] = False
        if given.get("insecure") and "ca_file" not in given:
            given["ca_file"] = None
        for key in _PATH_KEYS:
            if given.get(key) is not None:
                given[key] = Path(given[key]).expanduser()
        if "concurrency" in given:
            given["concurrency_given"] = True
        merged = dataclasses.replace(self, **given)
        _check_values(merged, where="options")
        return merged


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the configuration lives, honouring ``XDG_CONFIG_HOME``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "aobo" / "config.toml"


def load_profile(
    name: str | None = None,
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Profile:
    """The named profile (or the default one) merged with ``options`` (None values are ignored).

    Without a config file, or with neither a ``default`` key nor a ``[profiles.default]``, the
    default profile is empty; asking for a profile by name that does not exist is an error.
    """
    path = path or config_path(environ)
    data = _read(path)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table ([profiles.<name>])")
    wanted = name
    if wanted is None:
        default = data.get("default", DEFAULT_PROFILE)
        if not isinstance(default, str) or not default:
            raise ConfigError(f"{path}: 'default' must be a profile name (a string)")
        wanted = default
        if default == DEFAULT_PROFILE and default not in profiles:
            return Profile(DEFAULT_PROFILE).merged(**options)
    if wanted not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        where = str(path) if path.exists() else f"{path} (no such file)"
        raise ConfigError(f"unknown profile {wanted!r} in {where}; profiles: {known}")
    return _profile(wanted, profiles[wanted], path).merged(**options)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _profile(name: str, table: Any, path: Path) -> Profile:
    where = f"{path}: [profiles.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    expected: dict[str, type] = {
        "uri": str,
        "username": str,
        "ca_file": str,
        "insecure": bool,
        "concurrency": int,
        "transport": str,
        "authority": str,
        "client_id": str,
        "app_id": str,
        "certificate": str,
        "token_cache": str,
    }
    for key, value in table.items():
        kind = expected[key]
        # bool is an int in Python; `concurrency = true` is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: {key} must be a {kind.__name__}, not {value!r}")
    files: dict[str, Path | None] = {}
    for key in _PATH_KEYS:
        found = Path(table[key]).expanduser() if key in table else None
        files[key] = path.parent / found if found is not None and not found.is_absolute() else found
    profile = Profile(
        name=name,
        uri=table.get("uri"),
        username=table.get("username"),
        ca_file=files["ca_file"],
        insecure=table.get("insecure", False),
        concurrency=table.get("concurrency", DEFAULT_CONCURRENCY),
        transport=table.get("transport", "rps"),
        authority=table.get("authority"),
        client_id=table.get("client_id"),
        app_id=table.get("app_id"),
        certificate=files["certificate"],
        token_cache=files["token_cache"],
        source=path,
        concurrency_given="concurrency" in table,
    )
    if profile.insecure and profile.ca_file is not None:
        raise ConfigError(f"{where}: give ca_file or insecure = true, not both")
    _check_values(profile, where=where)
    return profile


def _check_values(profile: Profile, *, where: str) -> None:
    if profile.uri is not None:
        parts = urlsplit(profile.uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{where}: uri must be an http(s) URL such as https://host:8443/powershell-liveid, not {profile.uri!r}"
            )
    if profile.transport not in TRANSPORTS:
        raise ConfigError(f"{where}: transport must be rps or rest, not {profile.transport!r}")
    if profile.authority is not None:
        parts = urlsplit(profile.authority)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{where}: authority must be an http(s) URL such as https://login.microsoftonline.com, "
                f"not {profile.authority!r}"
            )
    if profile.username is not None and not profile.username.strip():
        raise ConfigError(f"{where}: username is empty")
    if profile.concurrency < 1:
        raise ConfigError(f"{where}: concurrency must be at least 1, not {profile.concurrency}")


__all__ = ["DEFAULT_PROFILE", "DEFAULT_REST_CONCURRENCY", "ConfigError", "Profile", "config_path", "load_profile"]

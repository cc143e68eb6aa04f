"""Profiles in config.toml: where the file is, which profile, what wins, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aobo.toolkit.config import ConfigError, Profile, config_path, load_profile
from aobo.toolkit.errors import ToolkitError

CONFIG = """
default = "work"

[profiles.work]
uri = "https://rps.example.net:8443/powershell-liveid"
username = "admin@northwindit.onmicrosoft.com"
ca_file = "certs/ca.pem"
concurrency = 5

[profiles.lab]
uri = "http://127.0.0.1:8080/powershell-liveid"
insecure = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aobo" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_lives_under_xdg_config_home(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "aobo" / "config.toml"
    assert config_path({}) == Path.home() / ".config" / "aobo" / "config.toml"
    # The XDG spec says relative paths are invalid and must be ignored.
    assert config_path({"XDG_CONFIG_HOME": "relative"}) == Path.home() / ".config" / "aobo" / "config.toml"


def test_the_default_key_picks_the_profile(tmp_path: Path) -> None:
    write(tmp_path, CONFIG)
    profile = load_profile(environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert profile == Profile(
        name="work",
        uri="https://rps.example.net:8443/powershell-liveid",
        username="admin@northwindit.onmicrosoft.com",
        ca_file=tmp_path / "aobo" / "certs" / "ca.pem",  # relative to the config file
        insecure=False,
        concurrency=5,
        source=tmp_path / "aobo" / "config.toml",
    )
    lab = load_profile("lab", environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert lab.insecure and lab.ca_file is None and lab.username is None and lab.concurrency == 3


def test_a_profile_named_default_is_used_without_a_default_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.default]\nuri = "https://a.example/powershell-liveid"\n')
    assert load_profile(path=path).uri == "https://a.example/powershell-liveid"


def test_no_file_or_no_default_gives_an_empty_profile(tmp_path: Path) -> None:
    assert load_profile(path=tmp_path / "missing.toml") == Profile("default")
    path = write(tmp_path, '[profiles.other]\nuri = "https://a.example/x"\n')
    assert load_profile(path=path, uri="https://b.example/x").uri == "https://b.example/x"


def test_explicit_options_win_and_none_means_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    profile = load_profile(path=path, uri="https://other.example/powershell-liveid", username=None, concurrency=2)
    assert profile.uri == "https://other.example/powershell-liveid"
    assert profile.username == "admin@northwindit.onmicrosoft.com"
    assert profile.concurrency == 2
    # --insecure drops the profile's CA file; --ca-file drops the profile's insecure.
    insecure = load_profile(path=path, insecure=True)
    assert insecure.insecure and insecure.ca_file is None
    trusted = load_profile("lab", path=path, ca_file="~/ca.pem")
    assert not trusted.insecure and trusted.ca_file == Path.home() / "ca.pem"


def test_an_unknown_profile_is_an_error_listing_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    with pytest.raises(ConfigError, match=r"unknown profile 'prod'.*profiles: lab, work"):
        load_profile("prod", path=path)
    with pytest.raises(ConfigError, match=r"unknown profile 'prod'.*no such file"):
        load_profile("prod", path=tmp_path / "none.toml")
    bad_default = write(tmp_path, 'default = "gone"\n[profiles.work]\n')
    with pytest.raises(ConfigError, match="unknown profile 'gone'"):
        load_profile(path=bad_default)
    assert issubclass(ConfigError, ToolkitError)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('usernme = "x"', r"unknown key\(s\) usernme; known keys: uri, username"),
        ("concurrency = 0", "concurrency must be at least 1"),
        ('concurrency = "3"', "concurrency must be a int"),
        ("concurrency = true", "concurrency must be a int"),
        ('insecure = "yes"', "insecure must be a bool"),
        ('uri = "rps.example.net"', "uri must be an http"),
        ('uri = "ftp://rps.example.net/x"', "uri must be an http"),
        ('username = "  "', "username is empty"),
        ('insecure = true\nca_file = "ca.pem"', "not both"),
    ],
)
def test_bad_values_name_the_file_profile_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, f"[profiles.work]\n{body}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_profile("work", path=path)
    assert str(path) in str(info.value) and "[profiles.work]" in str(info.value)


def test_broken_toml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "[profiles.work\nuri = 1\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1") as info:
        load_profile(path=path)
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="'profiles' must be a table"):
        load_profile(path=write(tmp_path, 'profiles = "x"\n'))


def test_bad_explicit_options_are_errors_too() -> None:
    with pytest.raises(ConfigError, match="uri must be an http"):
        Profile("x").merged(uri="not a url")
    with pytest.raises(TypeError, match="password"):
        Profile("x").merged(password="no profile holds one")


@given(st.integers(min_value=1, max_value=10_000), st.booleans())
def test_any_valid_concurrency_and_insecure_round_trip(
    tmp_path_factory: pytest.TempPathFactory, n: int, insecure: bool
) -> None:
    tmp = tmp_path_factory.mktemp("cfg")
    path = write(tmp, f"[profiles.p]\nconcurrency = {n}\ninsecure = {str(insecure).lower()}\n")
    profile = load_profile("p", path=path)
    assert (profile.concurrency, profile.insecure) == (n, insecure)


def test_a_rest_profile(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[profiles.rest]\ntransport = "rest"\nauthority = "https://localhost:8443"\nuri = "https://localhost:8443"\n'
        'app_id = "11111111-2222-3333-4444-555555555555"\ncertificate = "app.pem"\ntoken_cache = "tokens.json"\n',
    )
    profile = load_profile("rest", path=path)
    assert (profile.transport, profile.authority, profile.uri) == ("rest", "https://localhost:8443", profile.uri)
    assert profile.certificate == path.parent / "app.pem" and profile.token_cache == path.parent / "tokens.json"
    # REST has no session limit: 16 tenants at once unless the profile or the command line says.
    assert profile.effective_concurrency == 16
    assert profile.merged(concurrency=4).effective_concurrency == 4
    assert profile.merged(transport="rps").effective_concurrency == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('transport = "wsman"', "transport must be rps or rest"),
        ('authority = "login.microsoftonline.com"', r"authority must be an http\(s\) URL"),
        ("app_id = 5", "app_id must be a str"),
    ],
)
def test_rest_keys_are_checked(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, f"[profiles.p]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_profile("p", path=path)

"""Credential: where it comes from, and that its password never shows."""

from __future__ import annotations

import copy
import logging
import pickle
import traceback
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aobo.toolkit.credential import Credential, CredentialError, keyring_service
from aobo.toolkit.errors import ToolkitError

SECRET = "S3cret-Pa55word!"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring in a dict: CI has no OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("no keyring daemon")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)


def test_the_password_is_returned_only_by_password() -> None:
    cred = Credential("admin@x", SECRET)
    assert cred.username == "admin@x"
    assert cred.password() == SECRET
    assert repr(cred) == "Credential('admin@x', '******')"
    assert str(cred) == repr(cred)
    assert SECRET not in f"{cred} {cred!r} {[cred]} { ({'c': cred}) }"


@given(st.text(min_size=1).filter(lambda s: s.strip() != ""), st.text(min_size=1))
def test_no_repr_shows_any_password(username: str, password: str) -> None:
    cred = Credential(username, password)
    assert cred.password() == password
    if len(password) >= 4:  # shorter ones may occur in the user name or the mask by chance
        assert password not in repr(cred).replace(repr(username.strip()), "")


def test_it_cannot_be_pickled_or_changed() -> None:
    cred = Credential("admin@x", SECRET)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cred)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cred._secret)
    with pytest.raises(AttributeError):
        cred.username = "other"  # type: ignore[misc]
    assert copy.copy(cred) is cred and copy.deepcopy({"c": cred})["c"] is cred
    assert not hasattr(cred, "__dict__")


def test_equality_compares_the_password_without_showing_it() -> None:
    assert Credential("Admin@X", SECRET) == Credential("admin@x", SECRET)
    assert Credential("admin@x", SECRET) != Credential("admin@x", SECRET + "!")
    assert len({Credential("admin@x", SECRET), Credential("ADMIN@x", SECRET)}) == 1


def _fail_while_holding(cred: Credential) -> None:
    session = {"credential": cred, "user": cred.username}  # noqa: F841 - a local the traceback shows
    raise RuntimeError(f"could not connect as {cred}")


def test_tracebacks_with_locals_and_logs_do_not_show_it(caplog: pytest.LogCaptureFixture) -> None:
    cred = Credential("admin@x", SECRET)
    with pytest.raises(RuntimeError) as info:
        _fail_while_holding(cred)
    text = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert "session" in text and "Credential('admin@x', '******')" in text
    assert SECRET not in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aobo.test").info("connecting with %s / %r", cred, cred)
        logging.getLogger("aobo.test").exception("failed", exc_info=info.value)
    assert caplog.records and SECRET not in caplog.text


def test_constructor_errors_keep_the_password_out_of_their_frames() -> None:
    with pytest.raises(CredentialError) as info:
        Credential("   ", SECRET)
    text = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert "user name" in text and SECRET not in text
    with pytest.raises(CredentialError, match="empty"):
        Credential("admin@x", "")
    with pytest.raises(TypeError):
        Credential("admin@x", None)  # type: ignore[arg-type]
    assert issubclass(CredentialError, ToolkitError)


def test_from_env_names_the_missing_variable() -> None:
    cred = Credential.from_env({"AOBO_USERNAME": "admin@x", "AOBO_PASSWORD": SECRET})
    assert cred == Credential("admin@x", SECRET)
    with pytest.raises(CredentialError, match=r"AOBO_PASSWORD is not set") as info:
        Credential.from_env({"AOBO_USERNAME": "admin@x"})
    assert "AOBO_USERNAME" not in str(info.value)
    with pytest.raises(CredentialError, match=r"AOBO_USERNAME is not set"):
        Credential.from_env({"AOBO_PASSWORD": SECRET})
    with pytest.raises(CredentialError, match=r"AOBO_USERNAME and AOBO_PASSWORD"):
        Credential.from_env({})


def test_prompt_asks_like_get_credential() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "admin@x" if prompt.startswith("User") else SECRET

    assert Credential.prompt(ask_username=ask, ask_password=ask) == Credential("admin@x", SECRET)
    assert asked == ["User name: ", "Password for admin@x: "]
    asked.clear()
    assert Credential.prompt("given@x", ask_username=ask, ask_password=ask).username == "given@x"
    assert asked == ["Password for given@x: "]

    def eof(prompt: str) -> str:
        raise EOFError

    with pytest.raises(CredentialError, match="end of input"):
        Credential.prompt("admin@x", ask_password=eof)


def test_the_keyring_service_is_named_after_the_host() -> None:
    assert keyring_service("https://RPS.example.net:8443/powershell-liveid?x=1") == "aobo:rps.example.net"
    assert keyring_service(None) == "aobo:"


def test_store_and_read_back_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    uri = "https://rps.example.net:8443/powershell-liveid"
    service = Credential("admin@x", SECRET).store_in_keyring(uri=uri)
    assert service == "aobo:rps.example.net"
    assert memory_keyring.entries == {("aobo:rps.example.net", "admin@x"): SECRET}
    assert Credential.from_keyring("admin@x", uri=uri).password() == SECRET
    assert Credential.from_keyring("admin@x", "aobo:rps.example.net").password() == SECRET
    with pytest.raises(CredentialError, match="aobo login") as info:
        Credential.from_keyring("other@x", uri=uri)
    assert "other@x" in str(info.value)


def test_a_keyring_that_fails_is_a_clean_error() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        with pytest.raises(CredentialError, match="cannot store"):
            Credential("admin@x", SECRET).store_in_keyring("aobo:h")
        with pytest.raises(CredentialError, match="no password"):
            Credential.from_keyring("admin@x", "aobo:h")
        # resolve treats it as "not there" and goes on to the next source.
        with pytest.raises(CredentialError, match="no terminal"):
            Credential.resolve(username="admin@x", environ={}, interactive=False)
    finally:
        keyring.set_keyring(previous)


def test_resolve_order_explicit_env_keyring_prompt(memory_keyring: MemoryKeyring) -> None:
    uri = "https://h:1/powershell-liveid"
    memory_keyring.set_password("aobo:h", "admin@x", "from-keyring")
    env = {"AOBO_USERNAME": "admin@x", "AOBO_PASSWORD": "from-env"}

    def never(prompt: str) -> str:
        raise AssertionError("must not prompt")

    given_cred = Credential("c@x", "given")
    assert Credential.resolve(given_cred, environ=env) is given_cred
    kw = {"uri": uri, "ask_password": never}
    assert Credential.resolve(username="admin@x", password="explicit", environ=env, **kw).password() == "explicit"
    assert Credential.resolve(environ=env, **kw).password() == "from-env"
    assert Credential.resolve(username="ADMIN@x", environ=env, **kw).password() == "from-env"
    # AOBO_PASSWORD belongs to AOBO_USERNAME, not to another account asked for explicitly.
    assert Credential.resolve(username="admin@x", environ={"AOBO_PASSWORD": "from-env"}, **kw).password() == "from-env"
    other_env = {"AOBO_USERNAME": "someone@else", "AOBO_PASSWORD": "theirs"}
    assert Credential.resolve(username="admin@x", environ=other_env, **kw).password() == "from-keyring"
    assert Credential.resolve(environ={"AOBO_USERNAME": "admin@x"}, **kw).password() == "from-keyring"
    prompted = Credential.resolve(
        username="new@x", environ={}, uri=uri, interactive=True, ask_password=lambda p: "typed"
    )
    assert prompted == Credential("new@x", "typed")
    with pytest.raises(CredentialError, match="no terminal") as info:
        Credential.resolve(username="new@x", environ={}, uri=uri, interactive=False)
    assert "keyring (service 'aobo:h')" in str(info.value)
    with pytest.raises(CredentialError, match="--username"):
        Credential.resolve(environ={}, uri=uri, interactive=False)

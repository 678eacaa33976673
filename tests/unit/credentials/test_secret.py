"""A Secret never shows its value, except through reveal()."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback

import pytest

from omnicloud.credentials import Secret
from omnicloud.errors import ConfigError

VALUE = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET"


def test_reveal_returns_the_value() -> None:
    assert Secret(VALUE).reveal() == VALUE


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: f"{s:>40}",
        lambda s: "%s" % s,  # noqa: UP031 - the % operator is one of the ways under test
        lambda s: "%r" % s,  # noqa: UP031
        lambda s: "{}".format(s),  # noqa: UP032 - str.format is another
        lambda s: str([s, {"k": s}]),
        lambda s: repr((s,)),
    ],
)
def test_every_text_form_shows_stars(render: object) -> None:
    text = render(Secret(VALUE))  # type: ignore[operator]
    assert VALUE not in text
    assert "***" in text


def test_logging_shows_stars(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(VALUE)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("omnicloud.test").debug("key=%s repr=%r", secret, secret)
    assert VALUE not in caplog.text
    assert "key=*** repr=Secret('***')" in caplog.text


def test_exception_text_and_traceback_show_stars() -> None:
    secret = Secret(VALUE)
    try:
        raise ValueError(f"bad secret {secret}")
    except ValueError as err:
        rendered = "".join(traceback.format_exception(err))
    assert VALUE not in rendered


def test_pickling_carries_no_value_and_the_copy_refuses_reveal() -> None:
    payload = pickle.dumps(Secret(VALUE))
    assert VALUE.encode() not in payload
    restored = pickle.loads(payload)
    assert str(restored) == "***"
    with pytest.raises(ConfigError, match="redacted when it was pickled"):
        restored.reveal()


def test_copies_keep_the_value_within_the_process() -> None:
    secret = Secret(VALUE)
    assert copy.copy(secret).reveal() == VALUE
    assert copy.deepcopy({"s": secret})["s"].reveal() == VALUE


def test_json_refuses_rather_than_leaks() -> None:
    with pytest.raises(TypeError) as info:
        json.dumps({"secret": Secret(VALUE)})
    assert VALUE not in str(info.value)


def test_equality_compares_values_and_hash_is_consistent() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("other")
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert Secret(VALUE) != VALUE


def test_is_immutable() -> None:
    secret = Secret(VALUE)
    with pytest.raises(AttributeError):
        secret._value = "changed"  # type: ignore[misc]


def test_empty_secret_is_falsy_and_wrapping_twice_keeps_one_layer() -> None:
    assert not Secret("")
    assert Secret(Secret(VALUE)).reveal() == VALUE  # type: ignore[arg-type]


def test_non_string_is_refused_without_echo() -> None:
    with pytest.raises(ConfigError) as info:
        Secret(12345)  # type: ignore[arg-type]
    assert "12345" not in str(info.value)

"""The URI grammar: every accepted form, canonical text, round trips and clear errors."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicloud.errors import InvalidURIError
from omnicloud.uri import ObjectURI, parse_uri


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("s3://my-bucket/a/b.txt", ObjectURI("aws", "my-bucket", "a/b.txt"), "s3://my-bucket/a/b.txt"),
        ("s3://my-bucket", ObjectURI("aws", "my-bucket"), "s3://my-bucket"),
        ("s3://my-bucket/", ObjectURI("aws", "my-bucket"), "s3://my-bucket"),
        ("s3://my-bucket/dir/", ObjectURI("aws", "my-bucket", "dir/"), "s3://my-bucket/dir/"),
        (
            "aws://us-west-2/my-bucket/k",
            ObjectURI("aws", "my-bucket", "k", region="us-west-2"),
            "aws://us-west-2/my-bucket/k",
        ),
        ("gs://bkt_1/x", ObjectURI("gcp", "bkt_1", "x"), "gs://bkt_1/x"),
        (
            "gcp://my-project/bkt/x",
            ObjectURI("gcp", "bkt", "x", project="my-project"),
            "gcp://my-project/bkt/x",
        ),
        ("az://container/x/y", ObjectURI("azure", "container", "x/y"), "az://container/x/y"),
        (
            "azure://myaccount/container/x",
            ObjectURI("azure", "container", "x", account="myaccount"),
            "azure://myaccount/container/x",
        ),
        (
            "oci://n/myns/b/models/o/llama/config.json",
            ObjectURI("oci", "models", "llama/config.json", namespace="myns"),
            "oci://n/myns/b/models/o/llama/config.json",
        ),
        ("oci://n/myns/b/models", ObjectURI("oci", "models", namespace="myns"), "oci://n/myns/b/models"),
        (
            "oci://myns@us-ashburn-1/models/llama/",
            ObjectURI("oci", "models", "llama/", namespace="myns", region="us-ashburn-1"),
            "oci://myns@us-ashburn-1/models/llama/",
        ),
        ("mem://scratch/k", ObjectURI("memory", "scratch", "k"), "mem://scratch/k"),
        ("file:///tmp/data/x.csv", ObjectURI("local", "", "tmp/data/x.csv"), "file:///tmp/data/x.csv"),
        ("file:///tmp/data/", ObjectURI("local", "", "tmp/data/"), "file:///tmp/data/"),
        ("file://localhost/etc/hosts", ObjectURI("local", "", "etc/hosts"), "file:///etc/hosts"),
    ],
)
def test_accepted_forms_parse_and_format_canonically(text: str, expected: ObjectURI, canonical: str) -> None:
    parsed = parse_uri(text)
    assert parsed == expected
    assert str(parsed) == canonical
    assert parse_uri(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bkt.s3.amazonaws.com/a%20b", ObjectURI("aws", "bkt", "a b")),
        ("https://bkt.s3.eu-west-1.amazonaws.com/k", ObjectURI("aws", "bkt", "k", region="eu-west-1")),
        ("https://bkt.s3-eu-west-1.amazonaws.com/k", ObjectURI("aws", "bkt", "k", region="eu-west-1")),
        (
            "https://my.dotted.bucket.s3.us-east-2.amazonaws.com/k",
            ObjectURI("aws", "my.dotted.bucket", "k", region="us-east-2"),
        ),
        ("https://s3.amazonaws.com/bkt/dir/k", ObjectURI("aws", "bkt", "dir/k")),
        ("https://s3.ap-south-1.amazonaws.com/bkt/k", ObjectURI("aws", "bkt", "k", region="ap-south-1")),
        ("https://storage.googleapis.com/bkt/a%2Fb%23c", ObjectURI("gcp", "bkt", "a/b#c")),
        ("https://storage.cloud.google.com/bkt/k", ObjectURI("gcp", "bkt", "k")),
        ("https://acct.blob.core.windows.net/cont/k%3F", ObjectURI("azure", "cont", "k?", account="acct")),
        (
            "https://objectstorage.us-phoenix-1.oraclecloud.com/n/ns/b/bk/o/a%2Fb",
            ObjectURI("oci", "bk", "a/b", namespace="ns", region="us-phoenix-1"),
        ),
    ],
)
def test_console_https_urls_are_percent_decoded_into_the_long_form(url: str, expected: ObjectURI) -> None:
    assert parse_uri(url) == expected


def test_cloud_scheme_forms_are_literal_about_percent_hash_and_question_mark() -> None:
    assert parse_uri("s3://bkt/a%20b").key == "a%20b"
    assert parse_uri("gs://bkt/x#frag?q=1").key == "x#frag?q=1"
    assert parse_uri("az://cont/unicodé/日本").key == "unicodé/日本"


def test_plain_paths_become_absolute_file_uris(tmp_path: os.PathLike[str]) -> None:
    here = parse_uri(str(tmp_path) + "/")
    assert here.provider == "local"
    assert str(here) == f"file://{tmp_path}/"
    assert parse_uri("relative/file.txt").key == os.path.abspath("relative/file.txt").lstrip("/")
    assert parse_uri("../up").key == os.path.abspath("../up").lstrip("/")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("s3://", "missing bucket"),
        ("s3://Upper/x", "invalid S3 bucket name 'Upper'"),
        ("s3://ab/x", "invalid S3 bucket name 'ab'"),
        ("s3://192.168.1.1/x", "invalid S3 bucket name"),
        ("s3://bkt/a/../b", "'..' segment"),
        ("s3://bkt/a/./b", "'.' or '..' segment"),
        ("gs://goog-bucket/x", "invalid GCS bucket name"),
        ("az://a--b/x", "invalid Azure container name"),
        ("azure://UPPER/cont/x", "invalid Azure storage account"),
        ("aws://nowhere/bkt/x", "invalid AWS region"),
        ("oci://ns/bkt/key", "oci://n/NAMESPACE/b/BUCKET/o/KEY"),
        ("oci://n/ns/b/bkt/key", "missing the o/"),
        ("s3://bkt/a\x00b", "control character"),
        # Azure reads '\' in a blob name as '/': refused rather than stored under another name.
        ("az://cont/a\\b.txt", "contains '\\', which Azure Blob storage turns into '/'"),
        ("https://acct.blob.core.windows.net/cont/a%5Cb", "which Azure Blob storage turns into '/'"),
        ("az://cont/name.", "has a name ending in '.', which Azure Blob storage drops"),
        ("az://cont/dir./name", "has a name ending in '.', which Azure Blob storage drops"),
        ("s3://bkt/" + "k" * 1025, "1024-byte limit"),
        ("https://example.com/x", "not an object URL of a known provider"),
        ("file://otherhost/x", "names host 'otherhost'"),
        ("file:///a/../b", "'..' segment"),
        ("", "empty URI"),
    ],
)
def test_invalid_input_names_the_offending_part(text: str, names: str) -> None:
    with pytest.raises(InvalidURIError) as caught:
        parse_uri(text)
    assert names in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_https_query_strings_are_refused_without_echoing_them() -> None:
    with pytest.raises(InvalidURIError) as caught:
        parse_uri("https://acct.blob.core.windows.net/cont/k?sv=2024&sig=TOPSECRETSIGNATURE")
    assert "TOPSECRETSIGNATURE" not in str(caught.value)


def test_object_uri_helpers() -> None:
    uri = parse_uri("s3://bkt/data/")
    assert uri.is_prefix
    assert uri.join("x/y.bin") == parse_uri("s3://bkt/data/x/y.bin")
    assert parse_uri("s3://bkt/data/x/y.bin").name == "y.bin"
    assert parse_uri("s3://bkt/data/x/y.bin").bucket_uri == parse_uri("s3://bkt")


# --- properties ---------------------------------------------------------------

_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
_key = st.lists(_segment, min_size=0, max_size=5).map("/".join) | st.lists(
    _segment, min_size=1, max_size=3
).map(lambda parts: "/".join(parts) + "/")
_s3_bucket = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True)
_region = st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"])
_azure_container = st.from_regex(r"[a-z0-9]([a-z0-9]|-(?=[a-z0-9])){2,20}", fullmatch=True)


@st.composite
def object_uris(draw: st.DrawFn) -> ObjectURI:
    provider = draw(st.sampled_from(["aws", "gcp", "azure", "oci", "memory"]))
    key = draw(_key)
    if provider == "aws":
        return ObjectURI("aws", draw(_s3_bucket), key, region=draw(st.none() | _region))
    if provider == "gcp":
        project = draw(st.none() | st.from_regex(r"[a-z][a-z0-9-]{4,20}[a-z0-9]", fullmatch=True))
        return ObjectURI("gcp", draw(_s3_bucket.filter(lambda b: "goog" not in b)), key, project=project)
    if provider == "azure":
        account = draw(st.none() | st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True))
        # Azure refuses names it would store under another name ('\\', a segment ending in '.').
        parts = key.replace("\\", "_").split("/")
        key = "/".join(part + "_" if part.endswith(".") else part for part in parts)
        return ObjectURI("azure", draw(_azure_container), key, account=account)
    if provider == "oci":
        namespace = draw(st.from_regex(r"[a-z0-9]{4,12}", fullmatch=True))
        return ObjectURI("oci", draw(_s3_bucket), key, namespace=namespace, region=draw(st.none() | _region))
    return ObjectURI("memory", draw(_s3_bucket), key)


@settings(max_examples=400)
@given(object_uris())
def test_formatting_then_parsing_gives_back_the_same_uri(uri: ObjectURI) -> None:
    assert parse_uri(str(uri)) == uri


@settings(max_examples=200)
@given(st.lists(_segment, min_size=1, max_size=5))
def test_local_uris_round_trip(segments: list[str]) -> None:
    uri = ObjectURI("local", "", "/".join(segments))
    assert parse_uri(str(uri)) == uri


@settings(max_examples=1000)
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_invalid_uri_error_only(text: str) -> None:
    try:
        uri = parse_uri(text)
    except InvalidURIError:
        return
    assert parse_uri(str(uri)) == uri


@settings(max_examples=500)
@given(
    st.sampled_from(["s3://", "gs://", "az://", "oci://", "mem://", "https://", "aws://", "file://"]),
    st.text(max_size=80),
)
def test_arbitrary_text_after_a_known_scheme_never_raises_anything_else(scheme: str, rest: str) -> None:
    try:
        uri = parse_uri(scheme + rest)
    except InvalidURIError:
        return
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    "text",
    ["s3://b-1/p/", "azure://acct1/cont/x/", "oci://n/ns/b/bk/o/a/", "gcp://my-project/bkt/", "/tmp/x/"],
)
def test_join_gives_the_uri_a_full_parse_gives(text: str) -> None:
    joined = parse_uri(text).join("d/f.txt")
    assert joined == parse_uri(str(joined))
    assert hash(joined) == hash(parse_uri(str(joined)))


@pytest.mark.parametrize("bad", ["a/../b", "x\x00y", "k" * 5000])
def test_with_key_checks_the_new_key(bad: str) -> None:
    with pytest.raises(InvalidURIError):
        parse_uri("s3://bucket/").with_key(bad)


@settings(max_examples=400)
@given(st.lists(st.sampled_from(["", ".", "..", "a", "a.", ".a", "..a", "a..b"]), max_size=6))
def test_a_key_is_refused_exactly_when_a_segment_is_dot_or_dot_dot(parts: list[str]) -> None:
    key = "/".join(parts)
    if any(segment in (".", "..") for segment in key.split("/")):
        with pytest.raises(InvalidURIError, match=r"'\.' or '\.\.' segment"):
            ObjectURI("aws", "bucket", key)
    else:
        assert ObjectURI("aws", "bucket", key).key == key

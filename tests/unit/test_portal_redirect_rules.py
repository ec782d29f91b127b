"""The return-to rule's edges that the hostile-value tables do not reach: default ports, odd origins, the length cap."""

from __future__ import annotations

from authsvc.web.pages.redirects import MAX_LENGTH, normalize_origin, safe_redirect


def allowed(rd: str) -> str | None:
    return safe_redirect(rd, own_origins={"https://auth.example.com"}, allowed_domains=[], https_only=False)


def test_an_origin_with_its_schemes_default_port_is_the_origin_without_it() -> None:
    assert normalize_origin("http://Auth.Example.com:80") == "http://auth.example.com"
    assert normalize_origin("https://auth.example.com:443") == "https://auth.example.com"
    assert normalize_origin("http://auth.example.com:443") == "http://auth.example.com:443"


def test_an_origin_that_is_not_http_or_has_no_host_is_only_lower_cased() -> None:
    assert normalize_origin("FTP://Auth.Example.com") == "ftp://auth.example.com"
    assert normalize_origin("HTTP:///Path") == "http:///path"


def test_a_return_path_is_refused_one_character_past_the_cap() -> None:
    at_cap = "/" + "a" * (MAX_LENGTH - 1)
    assert allowed(at_cap) == at_cap
    assert allowed(at_cap + "a") is None

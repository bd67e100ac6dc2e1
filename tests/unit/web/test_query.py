"""Parsing the list parameters and cursors, without HTTP."""

from __future__ import annotations

import base64
import json

import pytest

from dagger.web._errors import ApiError
from dagger.web._query import (
    DEFAULT_LIMIT,
    MAX_WINDOW,
    ListQuery,
    check_id,
    decode_cursor,
    encode_cursor,
    parse_list_query,
)


def test_defaults() -> None:
    assert parse_list_query({}) == ListQuery(DEFAULT_LIMIT, 0, None, None, None)


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    ident = (3, "order/with:odd=chars~é")
    cursor = encode_cursor(ident)

    assert decode_cursor(cursor) == ident
    assert all(char.isalnum() or char in "-_" for char in cursor)


@pytest.mark.parametrize("cursor", ["", "!!", encode_cursor((1, "a"))[:-3], "WyJhIiwgMV0"])
def test_a_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ApiError, match="malformed cursor") as raised:
        decode_cursor(cursor)
    assert raised.value.status == 400


def test_a_peer_is_asked_for_the_whole_window_plus_one_from_the_start() -> None:
    query = parse_list_query({"offset": "20", "limit": "10", "status": "failure,STOPPED"})

    widened = query.widened()

    assert (widened.offset, widened.limit) == (0, 31)
    assert widened.params() == {"limit": "31", "offset": "0", "status": "FAILURE,STOPPED"}
    assert parse_list_query(widened.params(), max_limit=MAX_WINDOW + 1) == widened


def test_a_peer_query_keeps_the_cursor_and_drops_the_offset() -> None:
    query = parse_list_query({"cursor": encode_cursor((2, "b")), "template": "orders"})

    params = query.widened().params()

    assert "offset" not in params
    assert decode_cursor(params["cursor"]) == (2, "b")
    assert params["template"] == "orders"


@pytest.mark.parametrize("good", ["o-1", "3f1c2a5e-8b1d-4a7e-9c1d-2b3c4d5e6f70", "a.b_c:d@e+f=g~h"])
def test_well_formed_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "x" * 257, "tab\there", "é"])
def test_malformed_ids(bad: str) -> None:
    with pytest.raises(ApiError, match="malformed instance id") as raised:
        check_id(bad)
    assert raised.value.status == 400


def test_an_updated_order_cursor_round_trips_and_a_peer_query_keeps_order_and_key() -> None:
    cursor = encode_cursor((-1795375152.25, 3, "o-1"))
    query = parse_list_query(
        {"order": "updated", "cursor": cursor, "partition_key": "o-1", "limit": "5"}
    )

    params = query.widened().params()

    assert query.after == (-1795375152.25, 3, "o-1")
    assert (params["order"], params["partition_key"]) == ("updated", "o-1")
    assert parse_list_query(params, max_limit=MAX_WINDOW + 1) == query.widened()
    assert query.key_of({"owner_partition": 1, "id": "b", "lastupdated": 5.0}) == (-5.0, 1, "b")
    assert parse_list_query({}).key_of({"owner_partition": 1, "id": "b"}) == (1, "b")


@pytest.mark.parametrize("parts", [[1.5, 2.5, 3, "a"], ["x", 3, "a"], [True, 3, "a"]])
def test_a_cursor_with_other_parts_is_malformed(parts: list[object]) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()
    with pytest.raises(ApiError, match="malformed cursor"):
        decode_cursor(cursor)


def test_time_ranges_are_epoch_seconds_and_an_unset_time_is_in_no_range() -> None:
    query = parse_list_query({"created_after": "100", "updated_before": "200.5"})

    assert query.created == (100.0, None) and query.updated == (None, 200.5)
    assert query.in_time_range(100.0, 150.0)
    assert not query.in_time_range(99.9, 150.0)
    assert not query.in_time_range(150.0, 200.5)
    assert not query.in_time_range(150.0, 0.0)  # never updated
    assert query.params()["created_after"] == "100.0"
    with pytest.raises(ApiError, match="epoch seconds"):
        parse_list_query({"created_before": "yesterday"})

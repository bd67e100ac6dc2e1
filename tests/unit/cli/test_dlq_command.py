"""`dagger dlq`: parsing, tables, JSON and the progress display, on an in-memory link."""

from __future__ import annotations

import io
import json
import shlex
import socket
from typing import Any

import pytest

from dagger.cli._dlq_command import execute
from dagger.cli._dlq_output import ProgressDisplay, table
from dagger.cli._main import _parser, main
from dagger.ops import DeadLetterService
from tests.unit.ops._memory_link import MemoryLink
from tests.unit.ops.test_dead_letter_service import DLQ, ORIGIN, fill

DLQ_ARGS = ("--topic", DLQ)


@pytest.fixture
def link() -> MemoryLink:
    memory = MemoryLink(batch_size=100)
    memory.create(DLQ, 2)
    memory.create(ORIGIN, 2)
    return memory


async def run(link: MemoryLink, *argv: str) -> tuple[str, str]:
    """Run ``dagger dlq <argv>`` on ``link``; return (stdout, stderr)."""
    args = _parser().parse_args(["dlq", *argv])
    out, err = io.StringIO(), io.StringIO()
    service = DeadLetterService("kafka://127.0.0.1:9092", args.topic, link=link)
    assert await execute(service, args, out, err) == 0
    return out.getvalue(), err.getvalue()


async def test_list_prints_a_table_and_the_next_page_command(link: MemoryLink) -> None:
    fill(link, {0: 3, 1: 1})
    out, err = await run(link, "list", "--limit", "3", *DLQ_ARGS)
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TIME", "(UTC)", "REASON", "ORIGIN", "ERROR", "REINJECTED"]
    assert lines[1].startswith("0:0 ") and "on_message_raised" in lines[1]
    assert f"{ORIGIN}[0]@100" in lines[1] and "RuntimeError: boom 0" in lines[1]
    assert lines[-1] == (
        f"3 of 4 dead letters in {DLQ}; next page: dagger dlq list --limit 3 --cursor 1:0"
    )
    assert err == ""


async def test_the_next_page_command_keeps_the_broker_shell_quoted(
    link: MemoryLink,
) -> None:
    fill(link, {0: 3})
    broker = "kafka://127.0.0.1:9092;127.0.0.1:9093"

    out, _ = await run(link, "list", "--limit", "2", "--broker", broker, *DLQ_ARGS)

    hint = out.splitlines()[-1].partition("; next page: ")[2]
    assert hint == f"dagger dlq list --broker '{broker}' --limit 2 --cursor 0:2"
    args = _parser().parse_args(shlex.split(hint)[1:])
    assert (args.broker, args.topic, args.limit, args.cursor) == (broker, DLQ, 2, "0:2")


async def test_list_json_is_the_page(link: MemoryLink) -> None:
    fill(link, {0: 2})
    out, _ = await run(link, "list", "--json", *DLQ_ARGS)
    page = json.loads(out)
    assert [entry["id"] for entry in page["entries"]] == ["0:0", "0:1"]
    assert page["total"] == 2 and page["next_cursor"] is None


async def test_listing_many_shows_progress_on_stderr(link: MemoryLink) -> None:
    fill(link, {0: 600})
    out, err = await run(
        link, "list", "--limit", "600", "--json", "--progress", "always", *DLQ_ARGS
    )
    assert json.loads(out)["count"] == 600
    progress = err.splitlines()
    assert progress[0] == f"reading {DLQ}: 0/600 (0%)"
    assert progress[-1] == f"reading {DLQ}: 600/600 (100%)"
    assert 5 <= len(progress) <= 12
    _, quiet = await run(link, "list", "--limit", "600", "-q", *DLQ_ARGS)  # the old spelling
    _, never = await run(link, "list", "--limit", "600", "--progress", "never", *DLQ_ARGS)
    _, piped = await run(link, "list", "--limit", "600", *DLQ_ARGS)  # auto: not a terminal
    _, few = await run(link, "list", "--limit", "20", "--progress", "always", *DLQ_ARGS)
    assert quiet == never == piped == few == ""


async def test_list_all_pages_through_everything(link: MemoryLink) -> None:
    fill(link, {0: 700, 1: 600})
    out, err = await run(link, "list", "--all", "--json", "--progress", "always", *DLQ_ARGS)
    page = json.loads(out)
    assert page["count"] == page["total"] == 1300
    assert len({entry["id"] for entry in page["entries"]}) == 1300
    assert page["next_cursor"] is None
    assert err.splitlines()[-1] == f"reading {DLQ}: 1300/1300 (100%)"


async def test_list_all_refuses_a_limit(link: MemoryLink) -> None:
    args = _parser().parse_args(["dlq", "list", "--all", "--limit", "5"])
    service = DeadLetterService("127.0.0.1:9092", link=link)
    with pytest.raises(ValueError, match="leave out --limit"):
        await execute(service, args, io.StringIO(), io.StringIO())


async def test_show_prints_labelled_fields_with_the_value_as_text(link: MemoryLink) -> None:
    fill(link, {1: 1})
    out, _ = await run(link, "show", "1:0", *DLQ_ARGS)
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["id"] == "1:0"
    assert fields["reason"] == "on_message_raised"
    assert fields["origin"] == f"{ORIGIN}[0]@100"
    assert fields["value"] == '{"ref": "r-0"}'
    assert fields["key"] == "(none)"  # a listener message that had no key
    assert fields["reinjected"] == fields["purged"] == "no"
    shown, _ = await run(link, "show", "1:0", "--json", *DLQ_ARGS)
    assert json.loads(shown)["value_text"] == '{"ref": "r-0"}'


async def test_reinject_and_purge_take_several_ids(link: MemoryLink) -> None:
    fill(link, {0: 2})
    out, _ = await run(link, "reinject", "0:0", "0:1", *DLQ_ARGS)
    assert out.splitlines() == [
        f"reinjected 0:0 -> {ORIGIN}[0]@0",
        f"reinjected 0:1 -> {ORIGIN}[1]@0",
    ]
    out, _ = await run(link, "purge", "0:0", "0:1", "--json", *DLQ_ARGS)
    assert [(r["id"], r["already_purged"]) for r in json.loads(out)] == [
        ("0:0", False),
        ("0:1", False),
    ]
    out, _ = await run(link, "purge", "0:0", *DLQ_ARGS)
    assert out.startswith("0:0 was already purged at ")
    assert out.rstrip().endswith(" UTC")  # a time in a sentence says its zone
    shown, _ = await run(link, "show", "0:1", *DLQ_ARGS)
    lines = shown.splitlines()
    assert [line for line in lines if line.startswith("time (UTC)  20")]
    assert [line for line in lines if line.startswith("purged") and line.endswith(" UTC")]
    assert [line for line in lines if line.startswith("reinjected") and line.endswith(" UTC")]


async def test_one_malformed_id_stops_the_command_before_anything_is_sent(
    link: MemoryLink,
) -> None:
    fill(link, {0: 1})
    args = _parser().parse_args(["dlq", "reinject", "0:0", "zero", *DLQ_ARGS])
    service = DeadLetterService("127.0.0.1:9092", DLQ, link=link)
    with pytest.raises(ValueError, match="got 'zero'"):
        await execute(service, args, io.StringIO(), io.StringIO())
    assert link.values(ORIGIN) == []


async def test_drain_reports_progress_and_the_result(link: MemoryLink) -> None:
    fill(link, {0: 3, 1: 2})
    link.create("parked", 2)
    out, err = await run(link, "drain", DLQ, "parked", "--json", "--progress", "always", *DLQ_ARGS)
    assert json.loads(out)["moved"] == 5
    assert err.splitlines()[0] == f"drain {DLQ} -> parked: 0/5 (0%)"
    assert err.splitlines()[-1] == f"drain {DLQ} -> parked: 5/5 (100%)"
    out, _ = await run(link, "drain", DLQ, "parked", *DLQ_ARGS)
    assert out == f"moved 0 messages from {DLQ} to parked\n"


def test_without_a_broker_the_command_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dlq", "list"]) == 2
    assert capsys.readouterr().err == (
        "dagger: error: no Kafka broker: pass --broker kafka://host:port or set DAGGER_BROKER\n"
    )


def test_a_bad_broker_or_topic_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "kafka://127.0.0.1:1")
    assert main(["dlq", "list", "--topic", "bad topic"]) == 2
    assert capsys.readouterr().err == (
        "dagger: error: dead_letter_topic must be a Kafka topic name "
        "(letters, digits, '.', '_', '-'), got 'bad topic'\n"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert main(["dlq", "show", "0:0", "--broker", f"127.0.0.1:{closed}"]) == 2
    assert f"cannot reach the Kafka broker at 127.0.0.1:{closed}" in capsys.readouterr().err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_is_redrawn() -> None:
    terminal = FakeTerminal()
    now = [0.0]
    display = ProgressDisplay("drain a -> b", stream=terminal, clock=lambda: now[0])
    display(0, 10)
    display(1, 10)  # within the refresh interval: not drawn
    now[0] = 1.0
    display(5, 10)
    display(10, 10)
    display.close()
    assert terminal.getvalue() == (
        "\rdrain a -> b [....................] 0/10 (0%)"
        "\rdrain a -> b [##########..........] 5/10 (50%)"
        "\rdrain a -> b [####################] 10/10 (100%)\n"
    )


def test_tables_align_columns_and_cut_long_cells() -> None:
    rows: list[Any] = [["0:0", "x" * 80], ["10:12", "short\nline"]]
    lines = table(["ID", "ERROR"], rows).splitlines()
    assert lines[0] == "ID     ERROR"
    assert lines[1] == "0:0    " + "x" * 59 + "…"
    assert lines[2] == "10:12  short line"

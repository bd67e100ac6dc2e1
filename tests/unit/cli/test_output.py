"""Tables and the progress display of the ``dagger`` command."""

from __future__ import annotations

import io

from dagger.cli._output import CELL_WIDTH, Progress, table, when


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_aligns_columns_and_cuts_long_cells_but_the_last() -> None:
    long = "x" * (CELL_WIDTH + 10)

    text = table(("ID", "NOTE", "DETAIL"), [("a", long, long), ("bb", None, "multi\nline")])

    header, first, second = text.splitlines()
    assert header.index("NOTE") == first.index("x") == 4
    assert first.split()[1] == "x" * (CELL_WIDTH - 1) + "…"
    assert first.split()[2] == long
    assert second.split() == ["bb", "-", "multi", "line"]


def test_times_are_utc_and_unset_ones_a_dash() -> None:
    assert when(0) == "-"
    assert when(None) == "-"
    assert when(86400.5) == "1970-01-02 00:00:00"


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    stream = Terminal()
    progress = Progress(stream, "stop requests", 4, enabled=True)

    progress.update(1)
    progress.update(4)
    progress.close()

    assert stream.getvalue() == (
        "\rstop requests [" + "#" * 7 + "." * 23 + "] 1/4\rstop requests [" + "#" * 30 + "] 4/4\n"
    )


def test_progress_elsewhere_is_one_line_per_step_and_off_when_disabled() -> None:
    lines, silent = io.StringIO(), Terminal()
    shown = Progress(lines, "listing", None, enabled=True)
    hidden = Progress(silent, "listing", None, enabled=False)

    for progress in (shown, hidden):
        progress.update(100, 250)
        progress.update(250)
        progress.close()

    assert lines.getvalue() == "listing: 100/250\nlisting: 250/250\n"
    assert silent.getvalue() == ""

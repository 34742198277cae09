"""Result lines survive console noise and truncation."""

from __future__ import annotations

from kernellab.protocol import format_result, parse_lines


def test_round_trip_with_noise_and_carriage_returns() -> None:
    text = ("TEMPER-BOOTED 4.21\r\n[ 5.0] sched_ext: noise\r\n"
            + format_result({"name": "a", "ok": True, "x": [1, 2]}) + "\r\n"
            + "garbage " + format_result({"name": "b"}) + "\n"
            + "TEMPER-EXIT 0\r\n")
    p = parse_lines(text)
    assert p.booted_uptime_s == 4.21
    assert [r["name"] for r in p.records] == ["a", "b"]
    assert p.records[0]["x"] == [1, 2]
    assert p.exit_status == 0


def test_truncated_line_is_garbage_not_a_crash() -> None:
    p = parse_lines('TEMPER-RESULT {"name": "a", "ok": tr\n')
    assert p.records == [] and p.exit_status is None and len(p.garbage) == 1

"""values.yaml is documented line by line: every key has a comment on the line above it."""

from __future__ import annotations

import re

from tests.chart.conftest import CHART

KEY = re.compile(r"^\s*(- )?[A-Za-z][\w.-]*:( |$)")


def test_every_key_in_values_yaml_has_a_comment_above_it() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(lines, start=1)
        if KEY.match(line) and (number == 1 or not lines[number - 2].lstrip().startswith("#"))
    ]
    assert undocumented == []

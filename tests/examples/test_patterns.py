"""Every script in examples/patterns runs on every backend and prints what its docs page says."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

PATTERNS = Path(__file__).resolve().parents[2] / "examples" / "patterns"

EXPECTED = {
    "crud.py": [
        "created: Ada (id 1)",
        "updated: Ada Lovelace",
        "upserted: Grace Hopper",
        "get_or_create made a row: True",
        "deleted: reads no longer see it",
        "live: Alan, Grace Hopper",
        "rows including soft-deleted: 3",
    ],
    "filtered_reads.py": [
        "Le Guin since 1969: 1974 The Dispossessed; 1969 The Left Hand of Darkness",
        "title contains 'Dune': Dune; Dune Messiah",
        "refused: Cannot filter on 'author_id': 'author_id' is not a declared filter of Book. "
        "Use one of ['author.name', 'title', 'year'].",
        "refused: Filter 'title' does not allow the operator 'startswith'. "
        "Use one of ['contains'].",
        "refused: Cannot sort by 'author_id; DROP TABLE pattern_filter_book': sort by one or "
        "more of ['year', 'title'] separated by commas, each at most once, with '-' in front "
        "for descending order.",
    ],
    "aggregation_having.py": ["Ada: 2 orders, 200.50", "Alan: 3 orders, 115.00"],
    "correlated_subquery.py": [
        "Ada earns more than the research average",
        "Barbara earns more than the systems average",
    ],
    "top_n_per_group.py": [
        "books #1: Dune (90)",
        "books #2: Ulysses (70)",
        "games #1: Tetris (95)",
        "games #2: Go (80)",
    ],
    "money_transfer.py": [
        "transfers applied: 20 of 20",
        "request-0 sent again, applied: False",
        "transfers recorded: 20",
        "total balance: 500",
    ],
    "bulk_load_and_stream.py": [
        "loaded 20000 rows in 4 batches",
        "streamed 2000 readings of sensor-3, values summing to 96000",
    ],
}

# The retry count depends on timing; only its presence is checked.
TIMING_DEPENDENT = {"money_transfer.py": "retries needed: "}


def test_every_pattern_is_tested() -> None:
    assert sorted(path.name for path in PATTERNS.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", [pytest.param(name, id=name[:-3]) for name in EXPECTED])
async def test_pattern_runs(script: str, database_url: str) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ASQLA_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PATTERNS / script),
        env={**environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    prefix = TIMING_DEPENDENT.get(script)
    if prefix is not None:
        varying = [line for line in lines if line.startswith(prefix)]
        assert len(varying) == 1, lines
        lines.remove(varying[0])
    assert lines == EXPECTED[script]

"""One run over a whole file against two runs over its halves, the state carried by --state-out / --state-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from parcours.batch.kernel import OUTPUT_SCHEMA
from parcours.batch.runner import adjudicate


def second_file_equal_to_whole(table: pa.Table, cut: int, tmp_path: Path) -> list[dict[str, Any]]:
    """Adjudicates ``table`` whole (state out: ``w.parquet``) and as the rows before ``cut`` (state out:
    ``s.parquet``) then the rest (state in ``s.parquet``, out ``s2.parquet``), in ``tmp_path``; asserts both give
    the same lines (every column but ``engine``) and returns the second file's lines by claim id."""
    pq.write_table(table, tmp_path / "all.parquet")
    pq.write_table(table.slice(0, cut), tmp_path / "a.parquet")
    pq.write_table(table.slice(cut), tmp_path / "b.parquet")
    adjudicate(str(tmp_path / "all.parquet"), tmp_path / "all-out.parquet", workers=1, state_out=tmp_path / "w.parquet")
    adjudicate(str(tmp_path / "a.parquet"), tmp_path / "a-out.parquet", workers=1, state_out=tmp_path / "s.parquet")
    adjudicate(str(tmp_path / "b.parquet"), tmp_path / "b-out.parquet", workers=1, state_in=tmp_path / "s.parquet",
               state_out=tmp_path / "s2.parquet")  # fmt: skip
    whole = pq.read_table(tmp_path / "all-out.parquet").sort_by("claim_id")
    split = pa.concat_tables([pq.read_table(tmp_path / n) for n in ("a-out.parquet", "b-out.parquet")])
    columns = [name for name in OUTPUT_SCHEMA.names if name != "engine"]
    assert split.sort_by("claim_id").select(columns).to_pylist() == whole.select(columns).to_pylist()
    return pq.read_table(tmp_path / "b-out.parquet").sort_by("claim_id").to_pylist()

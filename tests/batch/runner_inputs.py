"""The runner tests' input: two files of one generated year, with lines the kernel rejects."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from parcours.batch.generate import generate


def write_two_files(work: Path, *, reject_in_second: bool = False) -> pa.Table:
    """``first.parquet`` and ``second.parquet`` (1,500 lines each, row groups of 400) in ``work``: lines the kernel
    rejects (a missing patient, a missing claim id, an unknown act; with ``reject_in_second`` one in the second file
    too), every seventh line without a line number, 2 % of care the twin routes. Returns the generated table."""
    table = generate(3000, seed=11, patients=300, other_share=0.02)
    rows = table.sort_by("date").to_pylist()
    rows[3]["patient_id"] = None
    rows[10]["claim_id"] = None
    rows[20]["act_code"] = "NOPE"
    if reject_in_second:
        rows[2000]["act_code"] = "NOPE"
    for r in rows[::7]:
        r["line_number"] = None
    plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                       for f in table.schema])  # fmt: skip
    claims = pa.Table.from_pylist(rows, schema=plain)
    pq.write_table(claims.slice(0, 1500), work / "first.parquet", row_group_size=400)
    pq.write_table(claims.slice(1500), work / "second.parquet", row_group_size=400)
    return table

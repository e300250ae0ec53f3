"""`--engine spark` in ``local[2]``: the same kernel through ``mapInArrow`` gives exactly the local runner's output
(lines, rejects, states) on the same input."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from parcours.batch.generate import generate
from parcours.batch.runner import INPUT_FILE, adjudicate
from parcours.cli import app

pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("parcours-test")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


def ordered(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


RUN_KEYS = {"seconds", "workers", "buckets"}  # how the run went, not what it found


def counted(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in RUN_KEYS}


def test_spark_equals_the_local_runner(tmp_path: Path, spark: Any) -> None:
    from parcours.batch.spark import adjudicate_spark

    table = generate(1200, seed=4, patients=120, other_share=0.02)
    rows = table.to_pylist()
    rows[5]["act_code"] = "NOPE"  # a reject
    for i, row in enumerate(rows):
        row["work_injury"] = i % 40 == 0  # AT-MP care: claims of the scalar engine
    claims = pa.Table.from_pylist(rows, schema=pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(
        f.type) else f.type) for f in table.schema] + [pa.field("work_injury", pa.bool_())]))  # fmt: skip
    pq.write_table(claims.slice(0, 600), tmp_path / "first.parquet")
    pq.write_table(claims.slice(600), tmp_path / "second.parquet")
    local = adjudicate(str(tmp_path / "first.parquet"), tmp_path / "local1.parquet", workers=1,
                       state_out=tmp_path / "local-state1.parquet")  # fmt: skip
    remote = adjudicate_spark(str(tmp_path / "first.parquet"), tmp_path / "spark1", spark=spark,
                              state_out=tmp_path / "spark-state1")  # fmt: skip
    # The summary, merged from one record per Spark partition, is the local runner's, key for key.
    assert counted(remote.summary) == counted(local.summary)
    assert remote.summary["errors"] == 1
    assert remote.summary["lines_written"] == remote.summary["lines"] > 0
    assert remote.summary["claims"] > remote.summary["patients"] > 1
    # A second file with the state carried, each engine from its own state.
    local = adjudicate(str(tmp_path / "second.parquet"), tmp_path / "local2.parquet", workers=1,
                       state_in=tmp_path / "local-state1.parquet", state_out=tmp_path / "local-state2.parquet")  # fmt: skip
    remote = adjudicate_spark(str(tmp_path / "second.parquet"), tmp_path / "spark2", spark=spark, partitions=3,
                              state_in=tmp_path / "spark-state1", state_out=tmp_path / "spark-state2")  # fmt: skip
    assert counted(remote.summary) == counted(local.summary)
    assert remote.summary["deferred"] or remote.summary["participation"] or remote.summary["franchise"]
    for local_path, spark_path, keys in (
        ("local1.parquet", "spark1", ["claim_id", "line_number"]),
        ("local1.rejects.parquet", "spark1.rejects.parquet", ["claim_id"]),
        ("local2.parquet", "spark2", ["claim_id", "line_number"]),
        ("local-state2.parquet", "spark-state2", ["patient_id"]),
    ):
        expected = ordered(pq.read_table(tmp_path / local_path), keys)
        got = ordered(ds.dataset(str(tmp_path / spark_path), format="parquet").to_table(), keys)
        assert got.num_rows == expected.num_rows > 0
        assert got.cast(expected.schema.remove_metadata()).equals(expected.cast(expected.schema.remove_metadata())), (
            local_path
        )
    # ``batch explain`` reads Spark's folder of part files as it reads the local runner's file: the same text, for a
    # claim of the twin and one of the scalar engine.
    out = pq.read_table(tmp_path / "local1.parquet")
    chosen = [out.filter(pc.equal(out.column("engine"), engine)).column("claim_id")[0].as_py()
              for engine in ("columnar", "scalar")]  # fmt: skip
    cli = CliRunner()
    for claim_id in chosen:
        texts = []
        for path in ("local1.parquet", "spark1"):
            result = cli.invoke(app, ["batch", "explain", str(tmp_path / path), str(claim_id)])
            assert result.exit_code == 0, result.output
            assert "Attention" not in result.output
            texts.append(result.stdout)
        assert "Explication" in texts[1]
        assert texts[1] == texts[0]
    assert (tmp_path / "spark1" / INPUT_FILE).is_file()

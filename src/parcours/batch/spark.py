"""``parcours batch adjudicate --engine spark``: the same kernel on a Spark cluster.

The claims (and the given states) are repartitioned by patient, sorted within partitions, and each partition goes
through ``mapInArrow`` to ``batch.kernel.adjudicate_partition``, the very function the local runner calls: one
definition of the batch rules. The kernel's three outputs (lines, rejects, states) travel as one Arrow schema with
a record kind and prefixed columns, staged once, then written as three Parquet directories renamed into place.
Each partition also emits one ``summary`` record (its counts and totals as JSON): the driver collects only those,
one per partition, and merges them as the local runner merges its buckets' (a patient's claims never straddle two
partitions, so counting claims and patients per partition and adding up is exact).

Entry point for ``spark-submit`` (see docs/batch.md)::

    spark-submit --master yarn -m parcours.batch.spark CLAIMS OUT [--contract NAME] [--state-in S] [--state-out S]

(``python -m parcours.batch.spark`` with ``PYSPARK_SUBMIT_ARGS`` or ``spark-submit $(python -c 'import
parcours.batch.spark as s; print(s.__file__)') …``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from parcours.batch.kernel import (
    BATCH_COLUMNS,
    OUTPUT_SCHEMA,
    STATE_SCHEMA,
    adjudicate_partition,
    check_schema,
    merge_summaries,
    reject_schema,
)
from parcours.batch.publish import move_into_place, recover_interrupted
from parcours.batch.runner import (
    INPUT_FILE,
    TOTALS,
    InputError,
    Run,
    Source,
    arrow_plain_pages,
    bucket_summary,
    rejects_path,
)
from parcours.rules.columnar import ColumnError

KIND = "_record"
SUMMARY = "_summary"  # the JSON summary of a partition, on its one ``summary`` record
_PREFIX = {"line": "l_", "reject": "r_", "state": "s_", "claim": "c_"}


def _prefixed(prefix: str, schema: pa.Schema) -> list[pa.Field]:
    return [pa.field(prefix + f.name, f.type) for f in schema]


def _claims_schema() -> pa.Schema:
    return pa.schema([(name, spec[0]) for name, spec in BATCH_COLUMNS.items()])


def staged_schema() -> pa.Schema:
    """What ``mapInArrow`` returns: the record kind, then the lines', rejects' and states' columns, prefixed."""
    return pa.schema(
        [
            pa.field(KIND, pa.string()),
            pa.field(SUMMARY, pa.string()),
            *_prefixed(_PREFIX["line"], OUTPUT_SCHEMA),
            *_prefixed(_PREFIX["reject"], reject_schema()),
            *_prefixed(_PREFIX["state"], STATE_SCHEMA),
        ]
    )


def _stage(table: pa.Table, kind: str) -> pa.Table:
    schema = staged_schema()
    prefix = _PREFIX[kind]
    n = table.num_rows
    columns = []
    for f in schema:
        if f.name == KIND:
            columns.append(pa.repeat(pa.scalar(kind, pa.string()), n))
        elif f.name.startswith(prefix):
            columns.append(table.column(f.name[len(prefix) :]).cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _stage_summary(summary: dict[str, Any]) -> pa.Table:
    schema = staged_schema()
    columns = [
        pa.array(["summary"], pa.string())
        if f.name == KIND
        else pa.array([json.dumps(summary, ensure_ascii=False)], pa.string())
        if f.name == SUMMARY
        else pa.nulls(1, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def partition_kernel(
    batches: Iterator[pa.RecordBatch], contract: str | None = None, with_states: bool = True
) -> Iterator[pa.RecordBatch]:
    """One Spark partition (whole patients, claims and states mixed) through the kernel (the states out computed
    only when asked for)."""
    parts = list(batches)
    if not parts:
        return
    mixed = pa.Table.from_batches(parts)
    kind = mixed.column(KIND)
    claims = mixed.filter(pc.equal(kind, "claim"))
    states = mixed.filter(pc.equal(kind, "state"))
    claims = pa.table({f.name: claims.column(_PREFIX["claim"] + f.name) for f in _claims_schema()})
    state_table = pa.table({f.name: states.column(_PREFIX["state"] + f.name) for f in STATE_SCHEMA}).cast(STATE_SCHEMA)
    with arrow_plain_pages():  # as the local runner: mimalloc's huge pages cost more than the work (docs/batch.md)
        result = adjudicate_partition(
            claims, state_table if state_table.num_rows else None, contract=contract, with_states=with_states
        )
    for table, name in ((result.lines, "line"), (result.rejects, "reject"), (result.states, "state")):
        if table.num_rows:
            yield from _stage(table, name).to_batches(max_chunksize=64 * 1024)
    yield from _stage_summary(bucket_summary(result.lines, result.summary)).to_batches()


def _input_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(KIND, pa.string()),
            *_prefixed(_PREFIX["claim"], _claims_schema()),
            *_prefixed(_PREFIX["state"], STATE_SCHEMA),
        ]
    )


def session(master: str | None = None, partitions: int | None = None) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("parcours-batch")
    if master:
        builder = builder.master(master)
    if partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    return builder.getOrCreate()


def adjudicate_spark(
    claims: str,
    output: Path,
    *,
    contract: str | None = None,
    state_in: Path | None = None,
    state_out: Path | None = None,
    spark: Any = None,
    partitions: int | None = None,
) -> Run:
    """Adjudicate with Spark; ``output`` (and the rejects, the state) become directories of Parquet files."""
    from pyspark.sql import functions as F  # noqa: N812 - the usual name
    from pyspark.sql.pandas.types import from_arrow_schema

    started = time.perf_counter()
    source = Source.resolve(claims)
    try:
        check_schema(source.schema())
    except ColumnError as exc:
        raise InputError(exc.field, exc.message) from exc
    spark = spark or session()
    partitions = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    paths = list(source.absolute())
    reader = spark.read
    if source.csv:
        schema = from_arrow_schema(_claims_schema())
        df = reader.csv(paths, header=True, schema=schema)
    else:
        df = reader.parquet(*paths)
    present = set(df.columns)
    in_schema = _input_schema()
    spark_in = from_arrow_schema(in_schema)
    claim_cols = [
        (F.col(f.name) if f.name in present else F.lit(None))
        .cast(spark_in[_PREFIX["claim"] + f.name].dataType)
        .alias(_PREFIX["claim"] + f.name)
        for f in _claims_schema()
    ]
    state_nulls = [F.lit(None).cast(spark_in[_PREFIX["state"] + f.name].dataType).alias(_PREFIX["state"] + f.name)
                   for f in STATE_SCHEMA]  # fmt: skip
    mixed = df.select(F.lit("claim").alias(KIND), *claim_cols, *state_nulls)
    if state_in is not None:
        states = spark.read.parquet(str(Path(state_in).resolve()))
        claim_nulls = [F.lit(None).cast(spark_in[_PREFIX["claim"] + f.name].dataType).alias(_PREFIX["claim"] + f.name)
                       for f in _claims_schema()]  # fmt: skip
        state_cols = [F.col(f.name).cast(spark_in[_PREFIX["state"] + f.name].dataType).alias(_PREFIX["state"] + f.name)
                      for f in STATE_SCHEMA]  # fmt: skip
        mixed = mixed.unionByName(states.select(F.lit("state").alias(KIND), *claim_nulls, *state_cols))
    patient = F.coalesce(F.col("c_patient_id"), F.col("s_patient_id"))
    arranged = mixed.repartition(partitions, patient).sortWithinPartitions(
        patient, F.col("c_date"), F.col("c_claim_id"), F.col("c_line_number")
    )
    staged = arranged.mapInArrow(
        partial(partition_kernel, contract=contract, with_states=state_out is not None),
        from_arrow_schema(staged_schema()),
    )
    output = Path(output)
    work = output.with_name(f".{output.name}.spark-{os.getpid()}")
    # Each directory is written beside its target (one file system, so that it can be renamed into place), then
    # the three moved into place as a set, the output last (``move_into_place``).
    targets = [("state", STATE_SCHEMA, Path(state_out))] if state_out is not None else []
    targets += [("reject", reject_schema(), rejects_path(output)), ("line", OUTPUT_SCHEMA, output)]
    notices = recover_interrupted(output, [target for _, _, target in targets])
    staging = {kind: target.with_name(f".{target.name}.spark-{os.getpid()}.tmp") for kind, _, target in targets}
    try:
        staged.write.mode("overwrite").parquet(str(work / "staged"))
        back = spark.read.parquet(str(work / "staged"))
        for kind, schema, _ in targets:
            prefix = _PREFIX[kind]
            part = back.filter(F.col(KIND) == kind).select(*[F.col(prefix + f.name).alias(f.name) for f in schema])
            part.write.mode("overwrite").parquet(str(staging[kind]))
        # The output names its input, so that ``batch explain`` finds a claim's facts again.
        described = {"claims": paths, "contract": contract}
        (staging["line"] / INPUT_FILE).write_text(json.dumps(described, ensure_ascii=False), encoding="utf-8")
        move_into_place([(staging[kind], target) for kind, _, target in targets])
        # One small record per partition reaches the driver, never the lines themselves.
        parts = back.filter(F.col(KIND) == "summary").select(SUMMARY).collect()
        # Counted from the Parquet footers, as the local runner counts what it wrote.
        written = ds.dataset(str(output), format="parquet").count_rows()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for path in staging.values():
            shutil.rmtree(path, ignore_errors=True)
    summary = merge_summaries([json.loads(row[SUMMARY]) for row in parts])
    summary.setdefault("rows", 0)
    for name in TOTALS:
        summary.setdefault(name, 0)
    summary["lines_written"] = written
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["workers"] = partitions
    return Run(output, rejects_path(output), state_out, summary, notices)


def main(argv: list[str] | None = None) -> int:
    """``spark-submit`` entry point: ``spark-submit …/parcours/batch/spark.py CLAIMS OUT [options]``."""
    parser = argparse.ArgumentParser(prog="parcours-batch-spark", description="Liquidation d'un lot sur Spark")
    parser.add_argument("claims")
    parser.add_argument("output")
    parser.add_argument("--contract")
    parser.add_argument("--state-in")
    parser.add_argument("--state-out")
    parser.add_argument("--partitions", type=int)
    args = parser.parse_args(argv)
    run = adjudicate_spark(
        args.claims,
        Path(args.output),
        contract=args.contract,
        state_in=Path(args.state_in) if args.state_in else None,
        state_out=Path(args.state_out) if args.state_out else None,
        partitions=args.partitions,
    )
    print(json.dumps(run.summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":  # pragma: no cover - spark-submit
    raise SystemExit(main())

"""``parcours batch explain``: a claim of a batch output back to its event and its state before, so that the scalar
engine gives the same French explanation as ``parcours simulate``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from parcours.batch.runner import INPUT_FILE, INPUT_KEY, InputError, Source
from parcours.rules.columnar import event_from_rows
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.money import euros

PARTS = "part-*.parquet"  # the local runner's parts layout


def _described(output: Path) -> dict[str, Any]:
    """What the batch read: in the Parquet metadata of the local runner's file (of each of its part files in the
    ``parts`` layout), in a file beside Spark's parts."""
    if output.is_dir():
        sidecar = output / INPUT_FILE
        if not sidecar.is_file():
            parts = sorted(output.glob(PARTS))
            if not parts:
                raise InputError("OUT.parquet", "ce dossier n'est pas un résultat de parcours batch adjudicate")
            return _described(parts[0])
        try:
            described: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError("OUT.parquet", f"description du lot illisible : {exc}") from exc
        return described
    try:
        metadata = pq.read_schema(output).metadata or {}
    except (OSError, ValueError) as exc:
        raise InputError("OUT.parquet", f"fichier de résultat illisible : {exc}") from exc
    if INPUT_KEY not in metadata:
        raise InputError("OUT.parquet", "ce fichier n'est pas un résultat de parcours batch adjudicate")
    return dict(json.loads(metadata[INPUT_KEY]))


@dataclass(frozen=True)
class ClaimToExplain:
    event: CareEvent
    state: YearToDate
    contract: str | None
    contract_state: dict[str, Any] | None
    lines: list[dict[str, Any]]  # the output lines of the claim, as the batch wrote them


def claim_to_explain(output: Path, claim_id: int) -> ClaimToExplain:
    """The event and the state before of ``claim_id`` in the batch output ``output`` (the local runner's Parquet
    file, or the folder of part files Spark writes)."""
    described = _described(output)
    lines = ds.dataset(str(output), format="parquet").to_table(filter=ds.field("claim_id") == claim_id)
    if lines.num_rows == 0:
        raise InputError("CLAIM_ID", f"demande {claim_id} absente du résultat (rejetée, ou d'un autre lot)")
    out = sorted(lines.to_pylist(), key=lambda r: r["line_number"])
    files = described["claims"]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise InputError("CLAIMS", f"fichier d'entrée du lot introuvable : {missing[0]}")
    source = Source(tuple(files), all(f.lower().endswith((".csv", ".csv.gz")) for f in files))
    rows = source.claim(claim_id)
    if len(rows) != len(out):
        raise InputError("CLAIMS", f"les lignes de la demande {claim_id} ne correspondent plus au fichier d'entrée")
    first = out[0]
    details = json.loads(first["state_before"]) if first["state_before"] else {}
    state = YearToDate.model_validate(
        {
            "participation_paid": euros(first["participation_paid_before"]),
            "franchises_paid": euros(first["franchises_paid_before"]),
            "same_day_participations": first["same_day_participations_before"],
            "same_day_paramedical_franchises": euros(first["same_day_paramedical_before"]),
            "same_day_transport_franchises": euros(first["same_day_transport_before"]),
            "teleexpertise_acts": details.get("teleexpertise_acts", {}),
            "psychologist_sessions": details.get("psychologist_sessions", 0),
            "participation_owed": euros(details.get("participation_owed", 0)),
            "franchises_owed": euros(details.get("franchises_owed", 0)),
            "last_optical_equipment": details.get("last_optical_equipment"),
            "last_hearing_aid": details.get("last_hearing_aid", {}),
        }
    )
    return ClaimToExplain(event_from_rows(rows), state, first["contract"], details.get("contract"), out)

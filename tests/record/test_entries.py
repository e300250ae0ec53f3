"""Record entries: the six FHIR R4 types, validated, signed by the authenticated author, dated; bad ones name the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from parcours.record.coherence import StoredEntry, coherence_flags, substance_key
from parcours.record.entries import (
    ATC_SYSTEM,
    ENTRY_KINDS,
    INS_NIR_TEST_SYSTEM,
    RPPS_SYSTEM,
    EntryError,
    PatientRef,
    author_identifier,
    entry_date,
    prepare_entry,
    with_security_label,
)
from parcours.record.identity import Principal
from parcours.rules.identifiers import nir_with_key
from parcours.rules.params import default_parameters

NIR = nir_with_key("2850475123456")
PATIENT = PatientRef(NIR, INS_NIR_TEST_SYSTEM, "Camille Durand")
GP = Principal.professional("10101010105", display_name="Dr Claire Martin")
CARDIOLOGIST = Principal.professional("10000000009")
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"

MINIMAL: dict[str, dict[str, Any]] = {
    "DocumentReference": {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "CR de consultation"}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": "Q1IgZGUgY29uc3VsdGF0aW9u"}}],
    },
    "AllergyIntolerance": {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
        "code": {"text": "Pénicilline"},
    },
    "MedicationStatement": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {
            "coding": [{"system": ATC_SYSTEM, "code": "C10AA05", "display": "atorvastatine"}]
        },
    },
    "Condition": {"resourceType": "Condition", "code": {"text": "Diabète de type 2"}},
    "Immunization": {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"text": "DTP"},
        "occurrenceDateTime": "2025-10-01",
    },
    "Observation": {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
        "valueQuantity": {"value": 6.8, "unit": "%"},
    },
}


def prepare(payload: dict[str, Any], author: Principal = GP) -> tuple[Any, dict[str, Any]]:
    return prepare_entry(payload, entry_id="e1", patient=PATIENT, author=author, now=NOW)


@pytest.mark.parametrize("resource_type", list(MINIMAL))
def test_each_type_is_stored_with_subject_author_and_date(resource_type: str) -> None:
    kind, stored = prepare(MINIMAL[resource_type])
    assert stored["resourceType"] == resource_type
    assert (stored["id"], stored["meta"]["versionId"]) == ("e1", "1")
    assert stored[kind.subject_field]["identifier"] == {"system": INS_NIR_TEST_SYSTEM, "value": NIR}
    assert author_identifier(kind, stored) == GP.identifier
    assert entry_date(kind, stored) == NOW


def test_the_author_is_a_practitioner_by_rpps() -> None:
    _, stored = prepare(MINIMAL["DocumentReference"])
    assert stored["author"] == [
        {
            "type": "Practitioner",
            "identifier": {"system": RPPS_SYSTEM, "value": GP.identifier},
            "display": GP.display_name,
        }
    ]


def test_a_given_date_is_kept() -> None:
    kind, stored = prepare({**MINIMAL["Condition"], "recordedDate": "2024-05-01"})
    assert entry_date(kind, stored) == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_the_patient_and_their_parent_write_as_themselves() -> None:
    _, own = prepare(MINIMAL["AllergyIntolerance"], Principal.patient(NIR))
    assert own["recorder"]["type"] == "Patient"
    parent = nir_with_key("1800175123456")
    _, by_parent = prepare(MINIMAL["AllergyIntolerance"], Principal.patient(parent))
    assert by_parent["recorder"] == {
        "type": "RelatedPerson",
        "identifier": {"system": INS_NIR_TEST_SYSTEM, "value": parent},
    }


def test_client_ids_and_meta_are_replaced() -> None:
    _, stored = prepare({**MINIMAL["Condition"], "id": "mine", "meta": {"security": [{"code": "N"}]}})
    assert stored["id"] == "e1"
    assert "security" not in stored["meta"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"resourceType": "Patient"}, "resourceType"),
        ([1, 2], "(racine)"),
        ({**MINIMAL["DocumentReference"], "status": "draft"}, "status"),
        ({**MINIMAL["MedicationStatement"], "status": None}, "status"),
        (
            {
                **MINIMAL["MedicationStatement"],
                "informationSource": {"identifier": {"system": RPPS_SYSTEM, "value": "10000000009"}},
            },
            "informationSource",
        ),
        ({**MINIMAL["DocumentReference"], "author": [{"reference": "Practitioner/1"}]}, "author"),
        (
            {
                **MINIMAL["Condition"],
                "subject": {"identifier": {"system": INS_NIR_TEST_SYSTEM, "value": nir_with_key("1850475123456")}},
            },
            "subject",
        ),
        ({**MINIMAL["Condition"], "recordedDate": "hier"}, "recordedDate"),
        ({**MINIMAL["Observation"], "valueQuantity": "6,8"}, "valueQuantity"),
        ({**MINIMAL["Condition"], "colour": "blue"}, "colour"),
        ({key: value for key, value in MINIMAL["Immunization"].items() if key != "vaccineCode"}, "vaccineCode"),
    ],
)
def test_bad_entries_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(EntryError) as caught:
        prepare(payload)
    assert field in [error.field for error in caught.value.errors]
    assert all("spec regex" not in error.message for error in caught.value.errors)


def test_an_author_naming_the_caller_is_accepted() -> None:
    payload = {**MINIMAL["Observation"], "performer": [{"identifier": {"system": RPPS_SYSTEM, "value": GP.identifier}}]}
    kind, stored = prepare(payload)
    assert author_identifier(kind, stored) == GP.identifier


def test_insurer_agents_do_not_write_the_record() -> None:
    with pytest.raises(EntryError):
        prepare(MINIMAL["Condition"], Principal.insurer_agent("a1", organisation="CPAM 75"))


def test_masked_documents_carry_the_restricted_label() -> None:
    _, stored = prepare(MINIMAL["DocumentReference"])
    assert with_security_label(stored, masked=True)["meta"]["security"][0]["code"] == "R"
    assert "security" not in with_security_label(stored, masked=False)["meta"]


def test_all_six_types_are_supported() -> None:
    assert set(ENTRY_KINDS) == {
        "DocumentReference", "AllergyIntolerance", "MedicationStatement", "Condition", "Immunization", "Observation",
    }  # fmt: skip


# --- coherence -------------------------------------------------------------------------------------------------------

SNAPSHOT = default_parameters().at(dt.date(2026, 3, 2))


def treatment(entry_id: str, author: Principal, *, status: str = "active", **medication: Any) -> StoredEntry:
    concept = medication or MINIMAL["MedicationStatement"]["medicationCodeableConcept"]
    payload = {"resourceType": "MedicationStatement", "status": status, "medicationCodeableConcept": concept}
    _, stored = prepare_entry(payload, entry_id=entry_id, patient=PATIENT, author=author, now=NOW)
    return StoredEntry(entry_id, "MedicationStatement", stored)


def exam_request(entry_id: str, on: str, code: str = "ZCQK002", doc_type: str = "55115-0") -> StoredEntry:
    payload = {
        **MINIMAL["DocumentReference"],
        "type": {"coding": [{"system": "http://loinc.org", "code": doc_type}]},
        "date": on,
        "context": {
            "event": [
                {"coding": [{"system": "https://www.ameli.fr/ccam", "code": code, "display": "Scanner abdominal"}]}
            ]
        },
    }
    _, stored = prepare_entry(payload, entry_id=entry_id, patient=PATIENT, author=GP, now=NOW)
    return StoredEntry(entry_id, "DocumentReference", stored)


def test_same_substance_from_two_prescribers_is_flagged() -> None:
    flags = coherence_flags([treatment("a", GP), treatment("b", CARDIOLOGIST)], SNAPSHOT)
    assert [(flag.rule, flag.entries) for flag in flags] == [("duplicate_treatment", ("a", "b"))]
    assert "atorvastatine" in flags[0].text


def test_same_prescriber_or_stopped_treatment_is_not_flagged() -> None:
    assert coherence_flags([treatment("a", GP), treatment("b", GP)], SNAPSHOT) == []
    assert coherence_flags([treatment("a", GP), treatment("b", CARDIOLOGIST, status="stopped")], SNAPSHOT) == []


def transcribed(entry_id: str, recorder: Principal, prescriber: str) -> StoredEntry:
    """A treatment recorded by ``recorder`` from a prescription written by ``prescriber`` (RPPS)."""
    concept = MINIMAL["MedicationStatement"]["medicationCodeableConcept"]
    prescription = {
        "resourceType": "MedicationRequest", "id": "rx", "status": "active", "intent": "order",
        "medicationCodeableConcept": concept, "subject": {"identifier": {"system": INS_NIR_TEST_SYSTEM, "value": NIR}},
        "requester": {"identifier": {"system": "https://rpps.esante.gouv.fr", "value": prescriber}},
    }  # fmt: skip
    payload = {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": concept,
               "contained": [prescription], "derivedFrom": [{"reference": "#rx"}]}  # fmt: skip
    _, stored = prepare_entry(payload, entry_id=entry_id, patient=PATIENT, author=recorder, now=NOW)
    return StoredEntry(entry_id, "MedicationStatement", stored)


def test_the_mt_transcribing_two_specialists_prescriptions_is_flagged() -> None:
    """Both recorded by the MT, prescribed by two specialists: the duplicate is the prescribers'."""
    flags = coherence_flags([transcribed("a", GP, CARDIOLOGIST.identifier), transcribed("b", GP, "10000000017")],
                            SNAPSHOT)  # fmt: skip
    assert [(flag.rule, flag.entries) for flag in flags] == [("duplicate_treatment", ("a", "b"))]
    assert CARDIOLOGIST.identifier in flags[0].text


def test_the_patient_and_the_doctor_recording_one_prescription_is_not_flagged() -> None:
    patient = Principal.patient(NIR)
    assert coherence_flags([treatment("a", GP), transcribed("b", patient, GP.identifier)], SNAPSHOT) == []
    # a patient noting a treatment without its prescription names no prescriber: nothing to compare
    assert coherence_flags([treatment("a", GP), treatment("b", patient)], SNAPSHOT) == []


def test_uncoded_treatments_compare_by_name_without_accents_or_case() -> None:
    first = treatment("a", GP, text="Lévothyroxine")
    second = treatment("b", CARDIOLOGIST, text="  LEVOTHYROXINE ")
    assert substance_key(first.resource) == substance_key(second.resource) == ("text", "levothyroxine")
    assert len(coherence_flags([first, second], SNAPSHOT)) == 1


def test_an_exam_requested_again_within_the_delay_is_flagged() -> None:
    flags = coherence_flags(
        [exam_request("x", "2026-01-05T10:00:00Z"), exam_request("y", "2026-03-01T10:00:00Z")], SNAPSHOT
    )
    assert [(flag.rule, flag.entries) for flag in flags] == [("repeated_exam", ("x", "y"))]
    assert "55 jour(s)" in flags[0].text
    assert flags[0].parameters[0].path == "record.coherence.repeat_exam_days"


def test_exams_far_apart_different_or_not_requests_are_not_flagged() -> None:
    delay = SNAPSHOT["record.coherence.repeat_exam_days"]
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    later = (start + dt.timedelta(days=delay, seconds=1)).isoformat()
    assert coherence_flags([exam_request("x", start.isoformat()), exam_request("y", later)], SNAPSHOT) == []
    assert (
        coherence_flags(
            [exam_request("x", "2026-01-05T10:00:00Z"), exam_request("y", "2026-01-06T10:00:00Z", code="YYYY010")],
            SNAPSHOT,
        )
        == []
    )
    reports = [
        exam_request("x", "2026-01-05T10:00:00Z", doc_type="11528-7"),
        exam_request("y", "2026-01-06T10:00:00Z", doc_type="11528-7"),
    ]
    assert coherence_flags(reports, SNAPSHOT) == []


CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ENTERED_IN_ERROR = {
    "AllergyIntolerance": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                       "code": "entered-in-error"}]},
    "Condition": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                              "code": "entered-in-error"}]},
}  # fmt: skip
PROBLEM_LIST = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                             "code": "problem-list-item"}]}]  # fmt: skip
WEIGHT = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
ACTIVE = {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]}
RESOLVED = {"coding": [{"system": CONDITION_CLINICAL, "code": "resolved"}]}
ALLERGY_WITHOUT_STATUS = {k: v for k, v in MINIMAL["AllergyIntolerance"].items() if k != "clinicalStatus"}


@pytest.mark.parametrize(
    ("key", "payload", "field"),
    [
        ("ait-1", ALLERGY_WITHOUT_STATUS, "clinicalStatus"),
        ("ait-2", {**MINIMAL["AllergyIntolerance"], "verificationStatus": ENTERED_IN_ERROR["AllergyIntolerance"]},
         "clinicalStatus"),
        ("con-3", {**MINIMAL["Condition"], "category": PROBLEM_LIST}, "clinicalStatus"),
        ("con-4", {**MINIMAL["Condition"], "clinicalStatus": ACTIVE, "abatementDateTime": "2024-01-01"},
         "clinicalStatus"),
        ("con-4", {**MINIMAL["Condition"], "abatementString": "guéri"}, "clinicalStatus"),
        ("con-5", {**MINIMAL["Condition"], "clinicalStatus": ACTIVE,
                   "verificationStatus": ENTERED_IN_ERROR["Condition"]}, "clinicalStatus"),
        ("obs-3", {**MINIMAL["Observation"], "referenceRange": [{"appliesTo": [{"text": "adulte"}]}]},
         "referenceRange"),
        ("obs-6", {**MINIMAL["Observation"], "dataAbsentReason": {"text": "non mesuré"}}, "dataAbsentReason"),
        ("obs-7", {**MINIMAL["Observation"], "code": WEIGHT,
                   "component": [{"code": WEIGHT, "valueQuantity": {"value": 60}}]}, "value"),
        ("dom-3", {**MINIMAL["MedicationStatement"],
                   "contained": [{"resourceType": "MedicationRequest", "id": "rx", "status": "active",
                                  "intent": "order", "subject": {"display": "x"},
                                  "medicationCodeableConcept": {"text": "x"}}]}, "contained"),
    ],
)  # fmt: skip
def test_r4_invariants_are_checked_naming_the_element(key: str, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(EntryError) as caught:
        prepare(payload)
    assert [(error.field, key in error.message) for error in caught.value.errors] == [(field, True)]


@pytest.mark.parametrize(
    "payload",
    [
        {**ALLERGY_WITHOUT_STATUS, "verificationStatus": ENTERED_IN_ERROR["AllergyIntolerance"]},  # ait-1 exempts
        {**MINIMAL["Condition"], "category": PROBLEM_LIST, "clinicalStatus": ACTIVE},
        {**MINIMAL["Condition"], "clinicalStatus": RESOLVED, "abatementDateTime": "2024-01-01"},
        {**MINIMAL["Observation"], "referenceRange": [{"low": {"value": 4}}, {"text": "< 7 %"}]},
        {k: v for k, v in MINIMAL["Observation"].items() if k != "valueQuantity"}
        | {"dataAbsentReason": {"text": "non mesuré"}},
        {**MINIMAL["Observation"], "component": [{"code": WEIGHT, "valueQuantity": {"value": 60}}]},
    ],
)
def test_entries_meeting_the_invariants_are_stored(payload: dict[str, Any]) -> None:
    prepare(payload)

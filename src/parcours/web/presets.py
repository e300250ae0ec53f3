"""The choices of the simulator page: for each type of care, the usual acts a person can pick, turned into a care
event for the rules engine. Fees are the person's input (the page pre-fills a usual price, not a legal figure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from parcours.rules.event import CareEvent

CareType = Literal["soins_courants", "optique", "dentaire", "hospitalisation"]
CARE_TYPES: dict[str, str] = {
    "soins_courants": "Soins courants",
    "optique": "Optique",
    "dentaire": "Dentaire",
    "hospitalisation": "Hospitalisation",
}
SIMULATED_GP = "10101010105"  # the person's médecin traitant in a simulation (a valid, fictitious RPPS)
SIMULATED_OTHER = "10000000025"  # any other professional


@dataclass(frozen=True)
class Preset:
    key: str
    care_type: CareType
    label: str
    professional: dict[str, Any]
    acts: list[dict[str, Any]]
    usual_fee: Decimal | None = None  # what the page suggests; the person may change it
    doctor: bool = False  # the pathway and the secteur matter
    days: bool = False  # the number of days matters (stay, private room)
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS: list[Preset] = [
    Preset("gp", "soins_courants", "Consultation chez le médecin généraliste",
           {"specialty": "general_practice"}, [{"code": "G"}], Decimal("30"), doctor=True),
    Preset("specialist", "soins_courants", "Consultation chez un spécialiste (dermatologue, cardiologue…)",
           {"specialty": "dermatology"}, [{"code": "CS"}], Decimal("31.50"), doctor=True),
    Preset("gynecologist", "soins_courants", "Consultation chez le gynécologue (accès direct)",
           {"specialty": "gynecology"}, [{"code": "GYN"}], Decimal("40"), doctor=True),
    Preset("teleconsultation", "soins_courants", "Téléconsultation avec le médecin traitant",
           {"specialty": "general_practice"}, [{"code": "TCG"}], Decimal("30"), doctor=True,
           extra={"teleconsultation": True}),
    Preset("medicine", "soins_courants", "Boîte de médicament remboursée à 65 %",
           {"profession": "pharmacist"}, [{"code": "PH7"}], Decimal("10")),
    Preset("physiotherapy", "soins_courants", "Séance de kinésithérapie",
           {"profession": "physiotherapist"}, [{"code": "AMK", "coefficient": "7.5"}], None),
    Preset("biology", "soins_courants", "Prise de sang (bilan courant, B 120)",
           {"profession": "laboratory"}, [{"code": "B", "coefficient": "120"}], None),
    Preset("glasses_a", "optique", "Lunettes 100 % Santé (classe A, verres simples)",
           {"profession": "optician"},
           [{"code": "FRAME", "device_class": "A"},
            {"code": "LENS", "device_class": "A", "correction": "simple", "quantity": 2}], None),
    Preset("glasses_b_simple", "optique", "Lunettes à prix libres, verres simples (monture 120 €, prix des verres)",
           {"profession": "optician"},
           [{"code": "FRAME", "device_class": "B", "fee": "120"},
            {"code": "LENS", "device_class": "B", "correction": "simple", "quantity": 2}], Decimal("180")),
    Preset("glasses_b_progressive", "optique", "Lunettes à prix libres, verres progressifs (monture 150 €, prix des verres)",
           {"profession": "optician"},
           [{"code": "FRAME", "device_class": "B", "fee": "150"},
            {"code": "LENS", "device_class": "B", "correction": "very_complex", "quantity": 2}], Decimal("550")),
    Preset("dentist", "dentaire", "Consultation chez le dentiste",
           {"profession": "dentist"}, [{"code": "C"}], Decimal("23")),
    Preset("scaling", "dentaire", "Détartrage", {"profession": "dentist"}, [{"code": "SCALING"}], None),
    Preset("crown_rac0", "dentaire", "Couronne 100 % Santé (dent visible, céramo-métallique)",
           {"profession": "dentist"}, [{"code": "CROWN", "basket": "rac0"}], None),
    Preset("crown_moderate", "dentaire", "Couronne à tarif maîtrisé", {"profession": "dentist"},
           [{"code": "CROWN", "basket": "moderate"}], None),
    Preset("crown_free", "dentaire", "Couronne à tarif libre (céramique sur molaire…)", {"profession": "dentist"},
           [{"code": "CROWN", "basket": "free"}], Decimal("800")),
    Preset("stay", "hospitalisation", "Séjour à l'hôpital ou en clinique (frais de séjour)",
           {"profession": "hospital"}, [{"code": "HOSP_STAY"}], Decimal("2500"), days=True),
    Preset("private_room", "hospitalisation", "Chambre particulière (prix par jour)",
           {"profession": "hospital"}, [{"code": "PRIVATE_ROOM"}], Decimal("70"), days=True),
    Preset("emergency", "hospitalisation", "Passage aux urgences sans hospitalisation",
           {"profession": "hospital"}, [{"code": "FPU"}], None),
]  # fmt: skip
BY_KEY = {preset.key: preset for preset in PRESETS}

Sector = Literal["1", "2-optam", "2"]


def build_event(
    preset: Preset,
    *,
    on: dt.date,
    age: int,
    fee: Decimal | None,
    gp_declared: bool,
    referred: bool,
    c2s: bool,
    sector: Sector,
    days: int | None,
    costly_act: bool = False,
    ald: bool = False,
) -> CareEvent:
    """The care event behind the person's choices. The fee they typed goes to the first act without a preset price
    (the lenses of a pair of glasses whose frame price is preset)."""
    acts = [dict(act) for act in preset.acts]
    priced = next((i for i, act in enumerate(acts) if "fee" not in act), 0)
    if fee is not None:
        if preset.key == "private_room" and days:
            acts[priced]["fee"] = str(fee * days)  # the page asks for the price of one day
        else:
            acts[priced]["fee"] = str(fee)
    if preset.days and days:
        acts[0]["days"] = days
    if costly_act and acts[0]["code"] == "HOSP_STAY":
        acts[0]["costly_act"] = True  # a flat participation replaces the ticket modérateur of the stay
    professional = dict(preset.professional)
    is_gp_visit = professional.get("specialty") == "general_practice"
    professional["rpps"] = SIMULATED_GP if (is_gp_visit and gp_declared) else SIMULATED_OTHER
    if preset.doctor:
        professional["sector"] = "1" if sector == "1" else "2"
        professional["optam"] = sector == "2-optam"
        if sector == "2" and acts[0]["code"] in ("G", "TCG"):
            acts[0]["code"] = "C"  # a secteur 2 GP outside OPTAM bills C (base 23 €)
    # A teleconsultation's last in-person visit is not asked: the engine assumes the MT knows the patient and says so
    # in the explanation (docs/rules.md, "Facts the caller did not give").
    return CareEvent.model_validate(
        {
            "date": on,
            "patient": {
                "birth_date": dt.date(on.year - age, 1, 1),
                "gp": SIMULATED_GP if gp_declared else None,
                "c2s": c2s,
                "ald": ald,
            },
            "ald_care": ald,
            "professional": professional,
            "referred_by_gp": referred and gp_declared and not is_gp_visit,
            "acts": acts,
            **preset.extra,
        }
    )

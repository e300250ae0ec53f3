"""The access decision: may this caller read or write this resource of this patient, and on what ground?

One function, ``decide``, answers for every path of the API that touches a patient's data (record entries, their
searches and exports, FHIR views, the coordination data and the claims), so that no path can forget consent: the
pattern of HAPI FHIR's consent service and Medplum's access policies. It is pure: the caller gathers the facts of
the patient (who is the MT, who was referred, who billed, what the patient masked, blocked, opposed or allowed) and
the decision is a function of them, which is how the access-control matrix is tested.

The rules (rules brief, section 5):

- the patient reads their record and sets its controls; a legal representative acts for a minor [S30a][S30g];
- the care team reads and feeds it with presumed consent: the médecin traitant, the professionals the patient was
  referred to, the expert (and the requester) of a téléexpertise, the professionals who billed a claim for the
  patient [S30b]; anyone else only after the patient's non-opposition is recorded (art. R1111-46 CSP) [S30b];
- masked documents are seen by the patient and the MT only [S30a][S30c]; masking also hides them from
  emergency access [S30a];
- a blocked professional sees nothing of the record, whatever their role [S30a][S30g];
- *bris de glace*: a professional outside the care team may read in an emergency with a reason, unless the
  patient opposed emergency access; it is traced and shown to the patient [S30a][S30h];
- insurer agents see and adjudicate claims and the administrative file, never the record (design choice
  ``PARCOURS``); administrators manage the directory and supervise the audit trail, never read the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from parcours.record.identity import Principal, Role


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


class Purpose(StrEnum):
    """Why data is used; mapped to HL7 v3 PurposeOfUse in the FHIR AuditEvent."""

    CARE = "care"
    EMERGENCY = "emergency"
    PATIENT = "patient"
    PAYMENT = "payment"
    OPERATIONS = "operations"


PURPOSE_OF_USE = {
    Purpose.CARE: ("TREAT", "treatment"),
    Purpose.EMERGENCY: ("ETREAT", "Emergency Treatment"),
    Purpose.PATIENT: ("PATRQT", "patient requested"),
    Purpose.PAYMENT: ("HPAYMT", "healthcare payment"),
    Purpose.OPERATIONS: ("HOPERAT", "healthcare operations"),
}


class ResourceKind(StrEnum):
    RECORD_ENTRY = "record_entry"  # documents and medical profile items of the shared record
    RECORD_CONTROL = "record_control"  # the patient's settings: masks, blocks, oppositions, non-oppositions
    NON_OPPOSITION = "non_opposition"  # recording that the patient does not oppose a professional's access
    EMERGENCY_ACCESS = "emergency_access"  # opening a bris de glace
    ACCESS_HISTORY = "access_history"  # who read or wrote this patient's record, and when
    PATIENT_FILE = "patient_file"  # identity, coverage, médecin traitant history
    CARE_COORDINATION = "care_coordination"  # MT declarations, referrals, téléexpertises, teleconsultations
    CLAIM = "claim"  # feuilles de soins and their adjudication
    GP_CHOICE = "gp_choice"  # ending a médecin traitant declaration
    GP_DECLARATION = "gp_declaration"  # declaring a médecin traitant: the doctor, with the patient present
    PRESENCE_ATTESTATION = "presence_attestation"  # the patient's proof of presence (the carte Vitale moment)
    WORKLIST = "worklist"  # a professional's own lists: their patients as MT, referrals and téléexpertises received
    AUDIT_LOG = "audit_log"  # the whole audit trail, all patients
    DIRECTORY = "directory"  # the professionals' directory (public data)


class Basis(StrEnum):
    """The ground a decision rests on: why it was allowed, or why refused."""

    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal_representative"
    GP = "gp"
    REFERRED = "referred"
    TELEEXPERTISE_EXPERT = "teleexpertise_expert"
    TELEEXPERTISE_REQUESTER = "teleexpertise_requester"
    CLAIM_BILLER = "claim_biller"
    NON_OPPOSITION = "non_opposition"
    EMERGENCY = "emergency"
    ACTING_PROFESSIONAL = "acting_professional"
    NEW_PATIENT = "new_patient"
    INSURER_AGENT = "insurer_agent"
    ADMINISTRATOR = "administrator"
    AUTHENTICATED = "authenticated"
    # refusals
    OTHER_PATIENT = "other_patient"
    NO_LONGER_MINOR = "no_longer_minor"
    HIDDEN_FROM_REPRESENTATIVES = "hidden_from_representatives"
    BLOCKED = "blocked"
    MASKED = "masked"
    NOT_IN_CARE_TEAM = "not_in_care_team"
    EMERGENCY_OPPOSED = "emergency_opposed"
    REASON_MISSING = "reason_missing"
    READ_ONLY = "read_only"
    NOT_THE_ACTING_PROFESSIONAL = "not_the_acting_professional"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    PATIENT_UNKNOWN = "patient_unknown"
    PRESENCE_NOT_PROVEN = "presence_not_proven"


CARE_TEAM = frozenset(
    {Basis.GP, Basis.REFERRED, Basis.TELEEXPERTISE_EXPERT, Basis.TELEEXPERTISE_REQUESTER, Basis.CLAIM_BILLER}
)

SOURCES: Mapping[Basis, tuple[str, ...]] = {
    Basis.PATIENT: ("S30a",),
    Basis.LEGAL_REPRESENTATIVE: ("S30a", "S30g"),
    Basis.NO_LONGER_MINOR: ("S30a", "S30g"),
    Basis.HIDDEN_FROM_REPRESENTATIVES: ("S30a", "S30g"),
    Basis.GP: ("S30a", "S30c"),
    Basis.REFERRED: ("S30b",),
    Basis.TELEEXPERTISE_EXPERT: ("S30b", "S16a"),
    Basis.TELEEXPERTISE_REQUESTER: ("S30b", "S16a"),
    Basis.CLAIM_BILLER: ("S30b", "PARCOURS"),
    Basis.NON_OPPOSITION: ("S30b",),
    Basis.NOT_IN_CARE_TEAM: ("S30b",),
    Basis.EMERGENCY: ("S30a", "S30h"),
    Basis.EMERGENCY_OPPOSED: ("S30a", "S30h"),
    Basis.REASON_MISSING: ("S30h",),
    Basis.READ_ONLY: ("S30h", "PARCOURS"),
    Basis.BLOCKED: ("S30a", "S30g"),
    Basis.MASKED: ("S30a", "S30c"),
    Basis.PRESENCE_NOT_PROVEN: ("S30b", "PARCOURS"),
}

_REASONS: Mapping[Basis, str] = {
    Basis.PATIENT: "accès du patient à ses propres données",
    Basis.LEGAL_REPRESENTATIVE: "représentant légal d'un patient mineur",
    Basis.GP: "médecin traitant du patient",
    Basis.REFERRED: "professionnel vers qui le patient a été orienté (équipe de soins)",
    Basis.TELEEXPERTISE_EXPERT: "médecin requis d'une téléexpertise pour ce patient (équipe de soins)",
    Basis.TELEEXPERTISE_REQUESTER: "professionnel requérant d'une téléexpertise pour ce patient (équipe de soins)",
    Basis.CLAIM_BILLER: "professionnel ayant facturé des soins à ce patient (équipe de soins)",
    Basis.NON_OPPOSITION: "non-opposition du patient enregistrée",
    Basis.EMERGENCY: "accès en urgence (bris de glace)",
    Basis.ACTING_PROFESSIONAL: "professionnel auteur de l'acte",
    Basis.NEW_PATIENT: "enregistrement d'un nouveau patient",
    Basis.INSURER_AGENT: "agent de l'assurance maladie (prise en charge)",
    Basis.ADMINISTRATOR: "administrateur de la plateforme",
    Basis.AUTHENTICATED: "donnée publique (annuaire)",
    Basis.OTHER_PATIENT: "un patient n'accède qu'à ses propres données",
    Basis.NO_LONGER_MINOR: "le patient est majeur : ses parents n'agissent plus pour lui",
    Basis.HIDDEN_FROM_REPRESENTATIVES: "le patient mineur a demandé le secret vis-à-vis de ses représentants légaux",
    Basis.BLOCKED: "le patient a bloqué l'accès de ce professionnel à son dossier",
    Basis.MASKED: "document masqué par le patient : visible de lui et de son médecin traitant seulement",
    Basis.NOT_IN_CARE_TEAM: (
        "professionnel hors de l'équipe de soins : la non-opposition du patient doit être enregistrée d'abord"
    ),
    Basis.EMERGENCY_OPPOSED: "le patient s'est opposé à l'accès en urgence à son dossier",
    Basis.REASON_MISSING: "un accès en urgence exige un motif",
    Basis.READ_ONLY: "l'accès en urgence permet la lecture seulement",
    Basis.NOT_THE_ACTING_PROFESSIONAL: "seul le professionnel concerné peut accomplir cet acte",
    Basis.ROLE_NOT_ALLOWED: "ce rôle n'a pas accès à cette donnée",
    Basis.PATIENT_UNKNOWN: "patient inconnu",
    Basis.PRESENCE_NOT_PROVEN: (
        "hors de l'équipe de soins du patient, cet acte exige l'attestation de présence du patient (carte Vitale) "
        "établie pour ce patient et ce professionnel : champ vitale_attestation"
    ),
}


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the store knows about a patient that bears on who may see their data.

    The sets hold RPPS numbers (NIRs for ``representatives``); a loader may restrict them to the caller, since the
    decision only asks whether the caller belongs to them.
    """

    nir: str
    minor: bool = False
    representatives: frozenset[str] = frozenset()
    gp: str | None = None
    referred_to: frozenset[str] = frozenset()
    teleexpertise_experts: frozenset[str] = frozenset()
    teleexpertise_requesters: frozenset[str] = frozenset()
    claim_billers: frozenset[str] = frozenset()
    non_oppositions: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    opposes_emergency_access: bool = False
    emergency_accesses: Mapping[str, str] = field(default_factory=dict)  # RPPS → reason of an open bris de glace


@dataclass(frozen=True, slots=True)
class Resource:
    """What is asked for. ``acting_professional`` is who must be the caller for a write bound to a person
    (the requester creating a referral, the expert answering, the biller of a claim)."""

    kind: ResourceKind
    masked: bool = False
    hidden_from_representatives: bool = False
    acting_professional: str | None = None
    participants: frozenset[str] = frozenset()  # professionals named on a coordination item or a claim
    creating: bool = False  # a new claim or coordination item, in the name of ``acting_professional``
    presence_proven: bool = False  # a valid presence attestation of the patient for the acting professional


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    basis: Basis
    purpose: Purpose
    reason: str | None = None  # the caller's reason (bris de glace), kept in the audit trail

    @property
    def explanation(self) -> str:
        return _REASONS[self.basis]

    @property
    def sources(self) -> tuple[str, ...]:
        return SOURCES.get(self.basis, ("PARCOURS",))


def _allow(basis: Basis, purpose: Purpose, reason: str | None = None) -> Decision:
    return Decision(True, basis, purpose, reason)


def _refuse(basis: Basis, purpose: Purpose, reason: str | None = None) -> Decision:
    return Decision(False, basis, purpose, reason)


def care_relation(rpps: str, facts: PatientFacts) -> Basis | None:
    """The strongest presumed-consent ground of a professional for this patient, or None."""
    if facts.gp == rpps:
        return Basis.GP
    if rpps in facts.referred_to:
        return Basis.REFERRED
    if rpps in facts.teleexpertise_experts:
        return Basis.TELEEXPERTISE_EXPERT
    if rpps in facts.teleexpertise_requesters:
        return Basis.TELEEXPERTISE_REQUESTER
    if rpps in facts.claim_billers:
        return Basis.CLAIM_BILLER
    if rpps in facts.non_oppositions:
        return Basis.NON_OPPOSITION
    return None


# Relations made with the patient present or through the care team: only these ground presumed consent, and only
# these let a professional create claims and coordination items without a new presence attestation.
PRESENCE_RELATIONS = CARE_TEAM


def decide(
    principal: Principal,
    facts: PatientFacts | None,
    resource: Resource,
    action: Action,
    *,
    reason: str | None = None,
) -> Decision:
    """Allow or refuse ``action`` on ``resource`` of the patient described by ``facts``.

    ``facts`` is None for what belongs to no patient (directory, whole audit trail) and when registering a patient
    not yet known. ``reason`` is the caller's reason, required to open a bris de glace.
    """
    kind = resource.kind
    if kind is ResourceKind.DIRECTORY:
        if action is Action.READ:
            return _allow(Basis.AUTHENTICATED, Purpose.OPERATIONS)
        if principal.role is Role.ADMINISTRATOR:
            return _allow(Basis.ADMINISTRATOR, Purpose.OPERATIONS)
        return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.OPERATIONS)
    if kind is ResourceKind.AUDIT_LOG:
        if action is Action.READ and principal.role is Role.ADMINISTRATOR:
            return _allow(Basis.ADMINISTRATOR, Purpose.OPERATIONS)
        return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.OPERATIONS)
    if kind is ResourceKind.WORKLIST:
        if principal.role is Role.PROFESSIONAL and principal.rpps == resource.acting_professional:
            return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        if principal.role is Role.ADMINISTRATOR:
            return _allow(Basis.ADMINISTRATOR, Purpose.OPERATIONS)
        return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.CARE)
    if facts is None:
        if kind is ResourceKind.PATIENT_FILE and action is Action.WRITE:
            if principal.role in (Role.PROFESSIONAL, Role.ADMINISTRATOR, Role.INSURER_AGENT):
                return _allow(Basis.NEW_PATIENT, Purpose.OPERATIONS)
            return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.OPERATIONS)
        return _refuse(Basis.PATIENT_UNKNOWN, Purpose.OPERATIONS)

    if principal.role is Role.PATIENT:
        return _decide_for_patient(principal, facts, resource, action)
    if principal.role is Role.PROFESSIONAL:
        assert principal.rpps is not None
        return _decide_for_professional(principal.rpps, facts, resource, action, reason)
    if principal.role is Role.INSURER_AGENT:
        if kind is ResourceKind.CLAIM and resource.creating and action is Action.WRITE:
            return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.PAYMENT)
        if kind in (ResourceKind.CLAIM, ResourceKind.PATIENT_FILE, ResourceKind.GP_CHOICE):
            return _allow(Basis.INSURER_AGENT, Purpose.PAYMENT)
        return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.PAYMENT)
    # administrator
    if kind in (ResourceKind.PATIENT_FILE, ResourceKind.GP_CHOICE) or (
        kind is ResourceKind.ACCESS_HISTORY and action is Action.READ
    ):
        return _allow(Basis.ADMINISTRATOR, Purpose.OPERATIONS)
    return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.OPERATIONS)


def _decide_for_patient(principal: Principal, facts: PatientFacts, resource: Resource, action: Action) -> Decision:
    purpose = Purpose.PATIENT
    if principal.nir == facts.nir:
        basis = Basis.PATIENT
    elif principal.nir in facts.representatives:
        if not facts.minor:
            return _refuse(Basis.NO_LONGER_MINOR, purpose)
        if resource.hidden_from_representatives:
            return _refuse(Basis.HIDDEN_FROM_REPRESENTATIVES, purpose)
        basis = Basis.LEGAL_REPRESENTATIVE
    else:
        return _refuse(Basis.OTHER_PATIENT, purpose)

    kind = resource.kind
    if kind in (
        ResourceKind.RECORD_ENTRY,
        ResourceKind.RECORD_CONTROL,
        ResourceKind.NON_OPPOSITION,
        ResourceKind.PRESENCE_ATTESTATION,
    ):
        return _allow(basis, purpose)  # read, add own documents, set the controls, attest their presence
    if kind is ResourceKind.GP_CHOICE:
        return _allow(basis, purpose)  # the patient may end their médecin traitant declaration at any time
    if action is Action.READ and kind in (
        ResourceKind.ACCESS_HISTORY,
        ResourceKind.PATIENT_FILE,
        ResourceKind.CARE_COORDINATION,
        ResourceKind.CLAIM,
    ):
        return _allow(basis, purpose)
    return _refuse(Basis.ROLE_NOT_ALLOWED, purpose)


def _decide_for_professional(
    rpps: str, facts: PatientFacts, resource: Resource, action: Action, reason: str | None
) -> Decision:
    kind = resource.kind
    relation = care_relation(rpps, facts)
    blocked = rpps in facts.blocked
    emergency_reason = facts.emergency_accesses.get(rpps)
    emergency_usable = emergency_reason is not None and not facts.opposes_emergency_access and not blocked

    if kind is ResourceKind.RECORD_ENTRY:
        if blocked:
            return _refuse(Basis.BLOCKED, Purpose.CARE)
        if relation is Basis.GP:
            return _allow(relation, Purpose.CARE)
        if relation is not None:
            if resource.masked:
                return _refuse(Basis.MASKED, Purpose.CARE)
            return _allow(relation, Purpose.CARE)
        if emergency_reason is not None:
            if facts.opposes_emergency_access:
                return _refuse(Basis.EMERGENCY_OPPOSED, Purpose.EMERGENCY, emergency_reason)
            if action is Action.WRITE:
                return _refuse(Basis.READ_ONLY, Purpose.EMERGENCY, emergency_reason)
            if resource.masked:
                return _refuse(Basis.MASKED, Purpose.EMERGENCY, emergency_reason)
            return _allow(Basis.EMERGENCY, Purpose.EMERGENCY, emergency_reason)
        return _refuse(Basis.NOT_IN_CARE_TEAM, Purpose.CARE)

    if kind is ResourceKind.EMERGENCY_ACCESS:
        if action is Action.READ:
            return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.EMERGENCY)
        if blocked:
            return _refuse(Basis.BLOCKED, Purpose.EMERGENCY, reason)
        if facts.opposes_emergency_access:
            return _refuse(Basis.EMERGENCY_OPPOSED, Purpose.EMERGENCY, reason)
        if reason is None or not reason.strip():
            return _refuse(Basis.REASON_MISSING, Purpose.EMERGENCY)
        return _allow(Basis.EMERGENCY, Purpose.EMERGENCY, reason.strip())

    if kind is ResourceKind.NON_OPPOSITION:
        if action is Action.WRITE and resource.acting_professional == rpps:
            if blocked:
                return _refuse(Basis.BLOCKED, Purpose.CARE)
            return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.CARE)

    if kind is ResourceKind.GP_CHOICE:
        if resource.acting_professional == rpps:
            return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.CARE)

    if kind is ResourceKind.GP_DECLARATION:
        # the declaration is made by the doctor with the patient's carte Vitale in hand: always with an attestation
        if action is not Action.WRITE or resource.acting_professional != rpps:
            return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.CARE)
        if not resource.presence_proven:
            return _refuse(Basis.PRESENCE_NOT_PROVEN, Purpose.CARE)
        return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)

    if kind in (ResourceKind.CARE_COORDINATION, ResourceKind.CLAIM):
        if action is Action.WRITE:
            if resource.acting_professional != rpps:
                return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.CARE)
            if resource.creating and relation not in PRESENCE_RELATIONS and not resource.presence_proven:
                # writing in one's own name does not make one a member of the care team
                return _refuse(Basis.PRESENCE_NOT_PROVEN, Purpose.CARE)
            return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        if rpps in resource.participants:
            return _allow(Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        if kind is ResourceKind.CLAIM:
            return _refuse(Basis.NOT_THE_ACTING_PROFESSIONAL, Purpose.PAYMENT)
        if blocked:
            return _refuse(Basis.BLOCKED, Purpose.CARE)
        # coordination data of the patient: the care team, like the record but without masks
        return _care_team_read(relation, emergency_usable, emergency_reason)

    if kind is ResourceKind.PATIENT_FILE:
        if action is Action.WRITE:
            return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.CARE)
        return _care_team_read(relation, emergency_usable, emergency_reason)

    # record controls and the access history belong to the patient
    return _refuse(Basis.ROLE_NOT_ALLOWED, Purpose.CARE)


def _care_team_read(relation: Basis | None, emergency_usable: bool, emergency_reason: str | None) -> Decision:
    if relation is not None:
        return _allow(relation, Purpose.CARE)
    if emergency_usable:
        return _allow(Basis.EMERGENCY, Purpose.EMERGENCY, emergency_reason)
    return _refuse(Basis.NOT_IN_CARE_TEAM, Purpose.CARE)

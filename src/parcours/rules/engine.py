"""Assurance Maladie adjudication of one care event: pathway, base, rate, deductions, what is left.

For each act: the base (BR, by sector and OPTAM), the rate (by kind of care, 100 % cases), the out-of-pathway
majoration (−40 points capped), the participation forfaitaire and the franchises (with their daily and yearly
caps, read from the year-to-date state), and the net amount (``amo = round(BR × rate) − majoration − PF −
franchise``, SFG RG_VF670/671). The columnar twin, for batches, is ``parcours.rules.columnar``; a differential test
keeps both equal to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from parcours.rules.catalogue import (
    ActDefinition,
    Catalogue,
    Category,
    CategoryRule,
    Profession,
    default_catalogue,
)
from parcours.rules.dates import add_months, add_years
from parcours.rules.event import Act, CareEvent, Specialty, YearToDate
from parcours.rules.money import apply_rate, ceil_to_euro, euros_text, format_eur, format_rate, to_cents
from parcours.rules.params import (
    SNAPSHOTS_CACHED,
    NoValueInForceError,
    ParameterSet,
    Snapshot,
    default_parameters,
    source_refs,
)
from parcours.rules.pathway import (
    TELECONSULTATION_SOURCES,
    PathwayStatus,
    known_patient_assumption,
    pathway_status,
    render,
    teleconsultation_refusal,
    template_paths,
)
from parcours.rules.result import Adjudication, Line, OverrunKind, ParameterUse, Step


class RuleInputError(ValueError):
    """The event cannot be adjudicated as given; ``field`` names the offending input (``acts.0.code``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message


# French texts; ``{path}`` is replaced by the parameter's value on the date of care (pathway.render).
REFUSALS = {
    "teleconsultation_not_oriented": "Téléconsultation non remboursable : pas d'orientation par le médecin traitant "
    "et aucune exception (spécialité en accès direct, moins de {pathway.minimum_age} ans, urgence, médecin traitant "
    "indisponible…)",
    "teleconsultation_unknown_patient": "Téléconsultation non remboursable : patient non connu du médecin "
    "(aucune consultation en présentiel dans les {pathway.teleconsultation.known_patient_months} derniers mois)",
    "early_renewal": "Renouvellement anticipé : le délai minimal depuis le précédent équipement n'est pas écoulé",
    "teleexpertise_yearly_limit": "Limite annuelle de {teleexpertise.yearly_limit_per_patient} téléexpertises par "
    "an pour ce patient avec ce médecin atteinte",
    "age_condition": "Acte réservé à une autre tranche d'âge",
    "psychology_yearly_limit": "Mon soutien psy : limite de {psychology.yearly_sessions} séances prises en charge "
    "par année civile atteinte",
    "psychology_not_referred": "Mon soutien psy : la séance n'est prise en charge que sur orientation d'un médecin "
    "à cette date (accès direct depuis le 15 juin 2024)",
    "psychology_age": "Mon soutien psy : accessible à partir de {psychology.min_age} ans",
}

_REGIME_EXEMPTIONS = {"ame": "bénéficiaire de l'AME"}
_ALSACE_MOSELLE = "regimes.alsace_moselle"
# Pathway rules decided on the usual direct-access reason when the event gives none (docs/rules.md, missing facts).
_ASSUMED_DIRECT_ACCESS = {
    "direct_access_gynecology": "pathway.direct_access.gynecology_reasons",
    "direct_access_ophthalmology": "pathway.direct_access.ophthalmology_reasons",
}
Exemption = tuple[str, tuple[ParameterUse, ...]]  # why PF or franchises are not due (French), parameters read

_SPECIALIST_CATEGORIES_WITH_OVERRUN = {Category.CONSULTATION, Category.TECHNICAL_ACT}
_DEVICE_CATEGORIES = {Category.OPTICS, Category.AUDIOLOGY, Category.DENTAL_PROSTHESIS}


_NO_STATE = YearToDate()


def _cents(amount: Decimal) -> int:
    return to_cents(amount) if amount else 0  # most counters are zero


@dataclass(slots=True)
class _Counters:
    """The year-to-date state in cents, updated act after act."""

    participation_paid: int
    franchises_paid: int
    same_day_participations: int
    same_day_paramedical: int
    same_day_transport: int
    teleexpertise: dict[str, int]
    psychologist_sessions: int
    last_optical: dt.date | None
    last_hearing: dict[str, dt.date | None]
    participation_owed: int = 0
    franchises_owed: int = 0
    optics_bought: bool = False
    hearing_bought: list[str] = field(default_factory=list)

    @classmethod
    def from_state(cls, state: YearToDate, event: CareEvent) -> _Counters:
        """The counters that apply to ``event``: a state taken in another year, on another day or with another
        professional carries only what still applies (YearToDate); a state without ``as_of`` applies whole."""
        same_year = same_day = same_professional = True
        if state.as_of is not None:
            if state.as_of > event.date:
                raise RuleInputError(
                    "year_to_date.as_of",
                    f"état arrêté le {state.as_of.isoformat()}, après la date des soins ({event.date.isoformat()})",
                )
            same_year = state.as_of.year == event.date.year
            same_day = state.as_of == event.date
            same_professional = same_day and state.same_day_professional == event.professional.rpps
        return cls(
            participation_paid=_cents(state.participation_paid) if same_year else 0,
            franchises_paid=_cents(state.franchises_paid) if same_year else 0,
            same_day_participations=state.same_day_participations if same_professional else 0,
            # the paramedical cap is per professional and day [S13][R33], the transport cap per day
            same_day_paramedical=_cents(state.same_day_paramedical_franchises) if same_professional else 0,
            same_day_transport=_cents(state.same_day_transport_franchises) if same_day else 0,
            teleexpertise=dict(state.teleexpertise_acts) if same_year else {},
            psychologist_sessions=state.psychologist_sessions if same_year else 0,
            last_optical=state.last_optical_equipment,
            last_hearing={"left": state.last_hearing_aid.left, "right": state.last_hearing_aid.right},
            participation_owed=_cents(state.participation_owed),
            franchises_owed=_cents(state.franchises_owed),
        )

    def state_after(self, on: dt.date, professional: str | None) -> dict[str, Any]:
        """``YearToDate(...).model_dump(mode="json")`` of the state after the event, built directly (every value
        comes from a validated state or from the engine's own arithmetic; a test checks it round-trips through the
        model unchanged)."""
        hearing = dict(self.last_hearing)
        for ear in self.hearing_bought:
            hearing[ear] = on
        last_optical = on if self.optics_bought else self.last_optical
        return {
            "as_of": on.isoformat(),
            "same_day_professional": professional,
            "participation_paid": euros_text(self.participation_paid),
            "franchises_paid": euros_text(self.franchises_paid),
            "same_day_participations": self.same_day_participations,
            "same_day_paramedical_franchises": euros_text(self.same_day_paramedical),
            "same_day_transport_franchises": euros_text(self.same_day_transport),
            "teleexpertise_acts": dict(self.teleexpertise),
            "psychologist_sessions": self.psychologist_sessions,
            "last_optical_equipment": None if last_optical is None else last_optical.isoformat(),
            "last_hearing_aid": {ear: None if day is None else day.isoformat() for ear, day in hearing.items()},
            "participation_owed": euros_text(self.participation_owed),
            "franchises_owed": euros_text(self.franchises_owed),
        }


@dataclass(slots=True)
class _Context:
    """What every act of the event shares."""

    event: CareEvent
    p: Snapshot
    status: PathwayStatus
    maternity: bool
    newborn: bool
    participation_exemption: Exemption | None
    franchise_exemption: Exemption | None
    has_stay: bool
    tele_refusal: str | None
    counters: _Counters
    steps: list[Step]
    warnings: list[str]
    uses: dict[str, ParameterUse]  # the engine's cache of parameter reads for this date
    child_exam: tuple[ParameterUse, ...] | None = None  # the compulsory child examination's window, when it is one
    associations: dict[int, str] = field(default_factory=dict)  # CCAM association code by act index

    def use(self, path: str) -> ParameterUse:
        found = self.uses.get(path)
        if found is None:
            found = ParameterUse.read(self.p, path)
            self.uses[path] = found
        return found


class Engine:
    """Adjudicates care events with a given parameter set and catalogue (the shipped ones by default)."""

    def __init__(self, parameters: ParameterSet | None = None, catalogue: Catalogue | None = None) -> None:
        self.parameters = parameters or default_parameters()
        self.catalogue = catalogue or default_catalogue()
        self.catalogue.check_against(self.parameters)
        # Parameter reads (value, date in force, sources) per date of care, shared by the events of that date and
        # bounded like the snapshots they wrap.
        self._uses_on: Callable[[dt.date], dict[str, ParameterUse]] = lru_cache(maxsize=SNAPSHOTS_CACHED)(lambda on: {})

    # -- event ----------------------------------------------------------------------------------------------

    def adjudicate(self, event: CareEvent, state: YearToDate | None = None) -> Adjudication:
        for field_path, message in event.incoherences():
            raise RuleInputError(field_path, message)
        p = self.parameters.at(event.date)
        if event.patient.regime.value in p.get_or("regimes.out_of_scope", frozenset()):
            raise RuleInputError(
                "patient.regime",
                f"régime « {event.patient.regime.value} » hors du périmètre de parcours : ses taux et ses règles "
                "propres ne sont pas modélisés (régime général, AME, Mayotte, étrangers de passage et régime local "
                "d'Alsace-Moselle seulement)",
            )
        acts = self.catalogue.acts
        profession = event.professional.profession
        teleexpertise = [
            a.code in acts and acts[a.code].category_for(profession) is Category.TELEEXPERTISE for a in event.acts
        ]
        teleexpertise_only = all(teleexpertise)
        if any(teleexpertise) and len(event.acts) > 1:  # billed alone, never with another act [S16a]
            raise RuleInputError("acts", "un acte de téléexpertise (TE2, RQD) se facture seul, sans autre acte")
        try:
            status = pathway_status(event, p, teleexpertise_only)
        except NoValueInForceError as exc:
            raise RuleInputError("date", f"aucune règle de parcours en vigueur le {event.date.isoformat()}") from exc
        known_patient = known_patient_assumption(event, status.facts)
        if known_patient == "missing":
            raise RuleInputError(
                "last_in_person_visit",
                "date de la dernière consultation en présentiel avec ce médecin requise : une téléconsultation "
                f"n'est remboursée que si le patient a été vu en présentiel dans les "
                f"{p['pathway.teleconsultation.known_patient_months']} derniers mois",
            )
        child_exam = self._child_exam(event, p) if event.compulsory_child_exam is not None else None
        ctx = _Context(
            event=event,
            p=p,
            status=status,
            maternity=self._maternity(event, p),
            newborn=(event.date - event.patient.birth_date).days < p["tariffs.hospital.newborn_exempt_days"],
            participation_exemption=None,
            franchise_exemption=None,
            has_stay=any(a.code == "HOSP_STAY" for a in event.acts),
            tele_refusal=teleconsultation_refusal(status.facts),
            counters=_Counters.from_state(state or _NO_STATE, event),
            steps=[],
            warnings=[],
            uses=self._uses_on(event.date),
            child_exam=child_exam,
        )
        try:
            ctx.participation_exemption = self._exemption(ctx, "participation")
            ctx.franchise_exemption = self._exemption(ctx, "franchises")
        except NoValueInForceError as exc:
            raise RuleInputError("date", f"aucune règle d'exonération en vigueur le {event.date.isoformat()}") from exc
        self._explain_pathway(ctx)
        ctx.associations = self._associations(ctx)
        lines: list[Line] = []
        for act_index, act in enumerate(event.acts):
            line = self._adjudicate_act(ctx, act_index, len(lines), act)
            lines.append(line)
            if line.category is Category.HOSPITAL_STAY:
                lines.append(self._daily_charge_line(ctx, len(lines), act, line))
        total_amo = sum(line.amo for line in lines)
        total_fee = sum(line.fee for line in lines)
        deferred, recovered = self._deferral_and_recovery(ctx, lines, total_amo)  # (participation, franchises)
        ctx.steps.append(
            Step(
                "total",
                f"Total : facturé {format_eur(total_fee)}, remboursé par l'Assurance Maladie "
                f"{format_eur(total_amo)}, reste {format_eur(total_fee - total_amo)} avant complémentaire",
                amount=total_amo,
            )
        )
        return Adjudication(
            date=event.date,
            pathway=status.indicator,
            in_pathway=status.in_pathway,
            pathway_rule=status.rule.id,
            lines=lines,
            explanation=ctx.steps,
            warnings=ctx.warnings,
            state_after=ctx.counters.state_after(event.date, event.professional.rpps),
            deferred_participation=deferred[0],
            deferred_franchises=deferred[1],
            recovered_participation=recovered[0],
            recovered_franchises=recovered[1],
            context={
                "age": status.age,
                "maternity": ctx.maternity,
                "c2s": event.patient.c2s,
                "sector": event.professional.sector,
                "optam": event.professional.optam,
                "profession": event.professional.profession.value,
            },
        )

    def _child_exam(self, event: CareEvent, p: Snapshot) -> tuple[ParameterUse, ...]:
        """The window of the compulsory child examination the event says it is; a child whose age does not fit it
        is a clear error naming the field."""
        number = event.compulsory_child_exam
        node = f"child_exams.windows.e{number:02d}"
        try:
            label, start, end = (ParameterUse.read(p, f"{node}.{leaf}") for leaf in ("label", "from_age", "until_age"))
        except NoValueInForceError as exc:
            raise RuleInputError(
                "date", f"aucun calendrier des examens obligatoires de l'enfant en vigueur le {event.date.isoformat()}"
            ) from exc
        birth = event.patient.birth_date
        first, last = (_after(birth, use) for use in (start, end))
        if not first <= event.date <= last:
            raise RuleInputError(
                "compulsory_child_exam",
                f"l'examen obligatoire n° {number} se fait {label.value}, soit du {first.strftime('%d/%m/%Y')} au "
                f"{last.strftime('%d/%m/%Y')} pour un enfant né le {birth.strftime('%d/%m/%Y')} ; la date des soins "
                f"({event.date.strftime('%d/%m/%Y')}) n'y correspond pas",
            )
        return label, start, end

    @staticmethod
    def _deferral_and_recovery(
        ctx: _Context, lines: list[Line], total_amo: int
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """In tiers payant the Assurance Maladie pays the professional: the participation and the franchises cannot
        be withheld; they stay owed (and count toward the caps) and are recovered from a later reimbursement paid
        to the patient [S12][S13]. Returns (deferred, recovered), each as (participation, franchises) in cents."""
        counters = ctx.counters
        if ctx.event.tiers_payant:
            participation = sum(line.participation for line in lines)
            franchises = sum(line.franchise for line in lines)
            if participation or franchises:
                counters.participation_owed += participation
                counters.franchises_owed += franchises
                ctx.steps.append(
                    Step(
                        "recovery.deferred",
                        f"Tiers payant : la participation ({format_eur(participation)}) et les franchises "
                        f"({format_eur(franchises)}) ne peuvent pas être retenues sur le paiement au professionnel ; "
                        f"elles restent dues et seront récupérées sur un prochain remboursement (total dû "
                        f"{format_eur(counters.participation_owed + counters.franchises_owed)})",
                        amount=participation + franchises,
                        sources=source_refs("S12", "S13"),
                    )
                )
            return (participation, franchises), (0, 0)
        owed = counters.participation_owed + counters.franchises_owed
        if not owed or total_amo <= 0:
            return (0, 0), (0, 0)
        recovered = min(owed, total_amo)
        from_participation = min(recovered, counters.participation_owed)
        counters.participation_owed -= from_participation
        counters.franchises_owed -= recovered - from_participation
        left = counters.participation_owed + counters.franchises_owed
        ctx.steps.append(
            Step(
                "recovery",
                f"Récupération des participations et franchises dues d'un tiers payant antérieur : "
                f"−{format_eur(recovered)} sur ce remboursement, versé {format_eur(total_amo - recovered)}"
                + (f" ; reste dû {format_eur(left)}" if left else ""),
                amount=recovered,
                sources=source_refs("S12", "S13"),
            )
        )
        return (0, 0), (from_participation, recovered - from_participation)

    @staticmethod
    def _maternity(event: CareEvent, p: Snapshot) -> bool:
        pregnancy = event.patient.pregnancy
        if pregnancy is None:
            return False
        if event.date < add_months(pregnancy.start, p["maternity.from_pregnancy_month"] - 1):
            return False
        return pregnancy.delivery is None or event.date <= pregnancy.delivery + dt.timedelta(
            days=p["maternity.days_after_delivery"]
        )

    @staticmethod
    def _exemption(ctx: _Context, node: str) -> Exemption | None:
        """Why the participation (``node`` = participation) or the franchises (franchises) are not due, or None."""
        patient = ctx.event.patient
        under = ctx.use(f"{node}.exempt_under_age")
        if ctx.status.age < under.value:
            return f"moins de {under.value} ans", (under,)
        if ctx.maternity:
            month = ctx.use("maternity.from_pregnancy_month")
            return f"période de maternité (à partir du {month.value}e mois de grossesse)", (month,)
        if patient.c2s:
            return "bénéficiaire de la Complémentaire santé solidaire", ()
        regimes = ctx.use(f"{node}.exempt_regimes")
        if patient.regime.value in regimes.value:
            label = _REGIME_EXEMPTIONS.get(patient.regime.value, f"régime {patient.regime.value}")
            return label, (regimes,)
        return None

    @staticmethod
    def _explain_pathway(ctx: _Context) -> None:
        rule = ctx.status.rule
        if rule.indicator is None:
            verdict = "non concerné par le parcours"
        elif rule.in_pathway is None:
            verdict = f"indicateur {rule.indicator}, non concerné par le parcours"
        elif rule.in_pathway:
            verdict = f"indicateur {rule.indicator}, dans le parcours"
        else:
            verdict = f"indicateur {rule.indicator}, hors parcours"
        ctx.steps.append(
            Step(
                f"pathway.{rule.id}",
                f"Parcours de soins : {rule.describe(ctx.p)} — {verdict}",
                parameters=tuple(ctx.use(path) for path in template_paths(rule.text)),
                sources=rule.sources,
            )
        )
        reasons = _ASSUMED_DIRECT_ACCESS.get(rule.id)
        if reasons is not None and ctx.event.visit_reason is None:
            usual = ctx.use(reasons)
            ctx.steps.append(
                Step(
                    "assumption.direct_access_reason",
                    "Hypothèse : motif de la consultation non renseigné (visit_reason) ; un motif d'accès direct "
                    f"({usual.display()}) est supposé, sans quoi la consultation serait hors parcours",
                    parameters=(usual,),
                    sources=rule.sources,
                )
            )
            ctx.warnings.append(
                "Hypothèse : motif d'accès direct supposé (visit_reason non renseigné) ; précisez le motif de la "
                "consultation pour un calcul certain"
            )
        if known_patient_assumption(ctx.event, ctx.status.facts) == "assumed":
            months = ctx.use("pathway.teleconsultation.known_patient_months")
            ctx.steps.append(
                Step(
                    "assumption.known_patient",
                    "Hypothèse : date de la dernière consultation en présentiel non renseignée "
                    "(last_in_person_visit) ; le patient est supposé connu du médecin (au moins une consultation en "
                    f"présentiel dans les {months.value} derniers mois), sans quoi la téléconsultation ne serait pas "
                    "remboursée",
                    parameters=(months,),
                    sources=TELECONSULTATION_SOURCES,
                )
            )
            ctx.warnings.append(
                "Hypothèse : patient supposé connu du médecin (last_in_person_visit non renseigné) ; "
                "précisez la date de la dernière consultation en présentiel pour un calcul certain"
            )
        if ctx.tele_refusal is not None:
            template = REFUSALS[ctx.tele_refusal]
            ctx.steps.append(
                Step(
                    "teleconsultation.refused",
                    render(template, ctx.p),
                    parameters=tuple(ctx.use(path) for path in template_paths(template)),
                    sources=TELECONSULTATION_SOURCES,
                )
            )
        if ctx.child_exam is not None:
            label = ctx.child_exam[0]
            rate = ctx.use("child_exams.rate")
            ctx.steps.append(
                Step(
                    "child_exam",
                    f"Examen médical obligatoire de l'enfant n° {ctx.event.compulsory_child_exam} ({label.value}) : "
                    f"pris en charge à {format_rate(rate.value)} par l'Assurance Maladie, quel que soit le médecin "
                    "(art. L2132-2 CSP, arrêté du 26 février 2019)",
                    parameters=(*ctx.child_exam, rate),
                    sources=source_refs("T4", "T5"),
                )
            )
        if ctx.maternity:
            ctx.steps.append(
                Step(
                    "maternity.period",
                    "Période de maternité : tous les soins remboursables sont pris en charge à "
                    f"{format_rate(ctx.p['rates.full'])}",
                    parameters=(
                        ctx.use("maternity.from_pregnancy_month"),
                        ctx.use("maternity.days_after_delivery"),
                        ctx.use("rates.full"),
                    ),
                )
            )

    # -- CCAM -----------------------------------------------------------------------------------------------

    @staticmethod
    def _grid(ctx: _Context, definition: ActDefinition) -> str:
        """The tariff grid of the professional: grid 1 for secteur 1 and OPTAM doctors, grid 2 otherwise [CCAM]."""
        pro = ctx.event.professional
        assert definition.tariff is not None
        assert definition.non_optam_tariff is not None
        if pro.profession is not Profession.PHYSICIAN or pro.sector == "1" or pro.optam:
            return definition.tariff
        return definition.non_optam_tariff

    def _associations(self, ctx: _Context) -> dict[int, str]:
        """The association code of each CCAM act of the event (art. III-3 B of the CCAM's Livre III): the codes
        billed, or, when none is billed, by tariff: the dearest act at code 1, the next at code 2; beyond
        ``ccam.association.max_acts`` acts the billed codes are required (4 or 5: acts at full rate)."""
        acts = self.catalogue.acts
        ccam = [
            (index, act)
            for index, act in enumerate(ctx.event.acts)
            if act.code in acts and acts[act.code].base == "ccam"
        ]
        for index, act in enumerate(ctx.event.acts):
            if (act.modifiers or act.association) and all(index != i for i, _ in ccam):
                field_name = "modifiers" if act.modifiers else "association"
                raise RuleInputError(f"acts.{index}.{field_name}", f"réservé aux actes de la CCAM ({act.code})")
        billed: dict[int, str] = {index: act.association for index, act in ccam if act.association is not None}
        if billed or len(ccam) < 2:
            if billed and len(billed) < len(ccam):
                missing = next(index for index, _ in ccam if index not in billed)
                raise RuleInputError(
                    f"acts.{missing}.association", "code d'association requis quand un autre acte CCAM en porte un"
                )
            return billed
        limit = ctx.use("ccam.association.max_acts")
        if len(ccam) > limit.value:
            raise RuleInputError(
                f"acts.{ccam[limit.value][0]}.association",
                f"au plus {limit.value} actes CCAM associés dans une séance : code d'association (4 ou 5) requis",
            )
        try:
            ranked = sorted(ccam, key=lambda item: -ctx.p[self._grid(ctx, acts[item[1].code])])
        except NoValueInForceError as exc:
            raise RuleInputError("date", f"aucun tarif CCAM en vigueur le {ctx.event.date.isoformat()}") from exc
        codes = {index: str(rank + 1) for rank, (index, _) in enumerate(ranked)}
        ctx.steps.append(
            Step(
                "ccam.association",
                "Actes CCAM associés dans la même séance : "
                + ", ".join(f"{ctx.event.acts[i].code} code {codes[i]}" for i, _ in ranked)
                + " (le tarif le plus élevé à taux plein, le second à 50 %)",
                parameters=(limit,),
                sources=source_refs("CCAM:III-3 B", "C3"),
            )
        )
        return codes

    def _ccam_base(
        self, ctx: _Context, index: int, act: Act, definition: ActDefinition, fee: int | None
    ) -> tuple[int, int, list[ParameterUse]]:
        """Base of a CCAM act: the tariff of the professional's grid, raised by the percentage modifiers, times the
        association coefficient, plus the modifiers that add an amount."""
        grid = ctx.use(self._grid(ctx, definition))
        uses = [grid]
        unit = grid.value
        added = 0
        for modifier in act.modifiers:
            path = f"ccam.modifiers.{modifier}"
            if path not in self.parameters:
                raise RuleInputError(f"acts.{index}.modifiers", f"modificateur CCAM inconnu : {modifier}")
            use = ctx.use(path)
            uses.append(use)
            if use.unit == "EUR":
                added += use.value
            else:
                unit += apply_rate(grid.value, use.value)
        text = f"{act.code} : grille {grid.path[-1]}, tarif {format_eur(grid.value)}"
        code = ctx.associations.get(index)
        if code is not None:
            coefficient = ctx.use(f"ccam.association.code_{code}")
            uses.append(coefficient)
            unit = apply_rate(unit, coefficient.value)
            text += f", code d'association {code} à {format_rate(coefficient.value)}"
        base = (unit + added) * act.quantity
        if act.modifiers:
            text += f", modificateurs {' '.join(act.modifiers)}"
        ctx.steps.append(
            Step(
                "ccam.base",
                f"{text} : base {format_eur(base)}",
                amount=base,
                line=index,
                parameters=tuple(uses),
                sources=source_refs("CCAM"),
            )
        )
        return base, base if fee is None else fee, uses

    # -- act ------------------------------------------------------------------------------------------------

    def _definition(self, index: int, act: Act, profession: Profession) -> ActDefinition:
        definition = self.catalogue.acts.get(act.code)
        if definition is None:
            raise RuleInputError(f"acts.{index}.code", f"code d'acte inconnu : {act.code}")
        if profession not in definition.professions:
            allowed = ", ".join(p.value for p in definition.professions)
            raise RuleInputError(
                f"acts.{index}.code",
                f"l'acte {act.code} ne peut pas être facturé par « {profession.value} » ({allowed})",
            )
        return definition

    def _adjudicate_act(self, ctx: _Context, index: int, position: int, act: Act) -> Line:
        """Adjudicate act ``index`` of the input (errors name it), which becomes line ``position``."""
        event, p = ctx.event, ctx.p
        profession = event.professional.profession
        definition = self._definition(index, act, profession)
        if definition.teleconsultation_only and not event.teleconsultation:
            raise RuleInputError(f"acts.{index}.code", f"l'acte {act.code} suppose une téléconsultation")
        category = definition.category_for(profession)
        rule = self.catalogue.categories[category]
        if event.professional.sector == "3":
            _check_non_contracted(index, act, definition, category, profession)
        if definition.rate == "child_exams.rate" and event.compulsory_child_exam is not None:
            certificates = p["child_exams.certificate_exams"]
            if str(event.compulsory_child_exam) not in certificates:
                raise RuleInputError(
                    f"acts.{index}.code",
                    f"l'acte {act.code} est réservé aux examens obligatoires donnant lieu à un certificat de santé "
                    f"(n° {', '.join(sorted(certificates, key=int))}), pas à l'examen n° {event.compulsory_child_exam}",
                )
        try:
            base, fee, base_uses, in_pathway_tariff = self._base_and_fee(ctx, index, act, definition, category)
            rate_path = self._rate_path(ctx, definition, rule)
        except NoValueInForceError as exc:
            # The act exists; it is the date that has no tariff in force.
            raise RuleInputError(
                "date",
                f"aucun tarif en vigueur le {event.date.isoformat()} pour l'acte {act.code} (acts.{index})",
            ) from exc
        if fee < base:
            base = fee
        rate = p[rate_path] if rate_path else 0
        line = Line(
            index=position,
            code=act.code,
            label=definition.label,
            category=category,
            quantity=act.quantity,
            fee=fee,
            base=base,
            rate=rate,
            attributes=_act_attributes(act),
        )
        uses = [*base_uses, *([ctx.use(rate_path)] if rate_path else [])]
        ctx.steps.append(
            Step(
                "act.base",
                f"{act.code} — {definition.label} : facturé {format_eur(fee)}, base de remboursement "
                f"{format_eur(base)}" + (f", taux {format_rate(rate)}" if rate_path else ", non remboursable"),
                amount=base,
                line=position,
                parameters=tuple(uses),
                sources=source_refs(*rule.sources),
            )
        )
        try:
            refusal = self._refusal(ctx, act, definition, category)
        except NoValueInForceError as exc:
            raise RuleInputError(
                "date",
                f"aucune règle de délivrance en vigueur le {event.date.isoformat()} pour l'acte {act.code} "
                f"(acts.{index})",
            ) from exc
        if refusal is not None:
            line.status, line.reason = "rejected", refusal
            line.rate = 0
            ctx.steps.append(Step(f"refusal.{refusal}", render(REFUSALS[refusal], p), amount=0, line=position))
            self._classify_overrun(ctx, line, in_pathway_tariff)
            return line
        self._gross(ctx, line, act, category)
        self._costly_act(ctx, line, definition, rule)
        self._majoration(ctx, line, rule)
        self._participation(ctx, line, rule, definition)
        self._franchise(ctx, line, act, rule)
        line.amo = line.gross - line.majoration - line.participation - line.franchise
        self._classify_overrun(ctx, line, in_pathway_tariff)
        self._record_devices(ctx, act, category)
        ctx.steps.append(
            Step(
                "act.amo",
                f"{act.code} : remboursement de l'Assurance Maladie {format_eur(line.amo)}, "
                f"reste {format_eur(line.patient)} avant complémentaire",
                amount=line.amo,
                line=position,
            )
        )
        return line

    def _tariff(
        self, ctx: _Context, index: int, act: Act, definition: ActDefinition, fee: int | None
    ) -> tuple[int, int, list[ParameterUse], int]:
        """Base and fee of a tariff act: the key letter, its majorations, the coordination majoration inside the
        pathway only, or the secteur 2 non-OPTAM base when the doctor bills a dépassement [R43]. Also returns the
        in-pathway tariff (with the coordination majoration), on which the dépassement autorisé is computed."""
        assert definition.tariff is not None
        pro = ctx.event.professional
        if pro.sector == "3":
            return self._authority_tariff(ctx, index, act, definition, fee)
        uses = [ctx.use(definition.tariff), *(ctx.use(path) for path in definition.supplements)]
        unit = sum(use.value for use in uses)
        in_pathway_unit = unit
        if definition.coordination is not None:
            coordination = ctx.use(definition.coordination)
            in_pathway_unit += coordination.value
            if ctx.status.in_pathway is False:
                ctx.steps.append(
                    Step(
                        "base.no_coordination",
                        f"Hors parcours : la majoration de coordination ({definition.coordination.rsplit('.', 1)[-1]}"
                        f", {format_eur(coordination.value)}) n'est pas facturable ; tarif {format_eur(unit)}",
                        line=index,
                        parameters=(coordination,),
                        sources=source_refs("R45", "S16k"),
                    )
                )
            else:
                unit = in_pathway_unit
                uses.append(coordination)
        tariff = unit * act.quantity
        if (
            pro.profession is Profession.PHYSICIAN
            and pro.sector == "2"
            and not pro.optam
            and definition.non_optam_tariff is not None
            and fee is not None
            and fee > tariff
            and self.parameters.parameter(definition.non_optam_tariff).in_force(ctx.event.date)
        ):
            reduced = ctx.use(definition.non_optam_tariff)
            ctx.steps.append(
                Step(
                    "base.non_optam",
                    f"Médecin de secteur 2 non adhérent à l'OPTAM facturant un dépassement : base de remboursement "
                    f"réduite à {format_eur(reduced.value)} (tarif opposable {format_eur(unit)})",
                    line=index,
                    parameters=(*uses, reduced),
                    sources=source_refs("R43", "S3"),
                )
            )
            return reduced.value * act.quantity, fee, [reduced], in_pathway_unit * act.quantity
        return tariff, tariff if fee is None else fee, uses, in_pathway_unit * act.quantity

    def _authority_tariff(
        self, ctx: _Context, index: int, act: Act, definition: ActDefinition, fee: int | None
    ) -> tuple[int, int, list[ParameterUse], int]:
        """A non-contracted doctor (secteur 3) is reimbursed on the tarif d'autorité (art. L162-5-10 CSS), not on
        the convention's tariff; his fee is free, so the caller must give it."""
        assert fee is not None  # _check_non_contracted
        kind = "gp" if ctx.event.professional.specialty is Specialty.GENERAL_PRACTICE else "specialist"
        authority = ctx.use(f"tariffs.authority.{kind}_consultation")
        conventional = ctx.use(definition.tariff) if definition.tariff else None
        base = authority.value * act.quantity
        ctx.steps.append(
            Step(
                "base.authority_tariff",
                "Médecin non conventionné (secteur 3) : remboursement sur le tarif d'autorité de "
                f"{format_eur(authority.value)} (art. L162-5-10 CSS)"
                + (f", et non sur le tarif conventionnel de {format_eur(conventional.value)}" if conventional else ""),
                amount=base,
                line=index,
                parameters=(authority,),
                sources=source_refs("T1", "T3"),
            )
        )
        return base, fee, [authority], base

    def _base_and_fee(
        self, ctx: _Context, index: int, act: Act, definition: ActDefinition, category: Category
    ) -> tuple[int, int, list[ParameterUse], int | None]:
        """Base of reimbursement (BR), billed amount, in cents, the parameters read, and the in-pathway tariff of a
        tariff act (None otherwise)."""
        fee = to_cents(act.fee) if act.fee is not None else None
        if definition.base == "tariff":
            return self._tariff(ctx, index, act, definition, fee)
        if definition.base == "ccam":
            base, billed, uses = self._ccam_base(ctx, index, act, definition, fee)
            return base, billed, uses, None
        base, billed, uses = self._other_base_and_fee(ctx, index, act, definition, category, fee)
        return base, billed, uses, None

    def _other_base_and_fee(
        self, ctx: _Context, index: int, act: Act, definition: ActDefinition, category: Category, fee: int | None
    ) -> tuple[int, int, list[ParameterUse]]:
        p, event = ctx.p, ctx.event
        if definition.base == "letter":
            assert definition.letter is not None
            if act.coefficient is None:
                raise RuleInputError(f"acts.{index}.coefficient", f"coefficient requis pour l'acte {act.code}")
            hundredths = int(act.coefficient * 100)
            base = (p[definition.letter] * hundredths + 50) // 100 * act.quantity
            return base, base if fee is None else fee, [ctx.use(definition.letter)]
        if definition.base == "fee":
            if fee is None:
                raise RuleInputError(f"acts.{index}.fee", f"montant facturé requis pour l'acte {act.code}")
            if category is Category.HOSPITAL_STAY and act.days is None:
                raise RuleInputError(f"acts.{index}.days", "nombre de jours d'hospitalisation requis")
            return fee, fee, []
        if definition.base == "device":
            if category is Category.DENTAL_PROSTHESIS:
                assert definition.tariff is not None
                return self._prosthesis(ctx, index, act, definition.tariff, fee)
            if category is Category.AUDIOLOGY:
                assert definition.tariff is not None
                return self._hearing_aid(ctx, index, act, definition.tariff, fee)
            return self._optics(ctx, index, act, fee)
        # base "none": never reimbursed, or a flat charge computed here
        if category is Category.EMERGENCY_VISIT:
            path = (
                "tariffs.hospital.emergency_flat_fee_reduced"
                if event.patient.ald
                else "tariffs.hospital.emergency_flat_fee"
            )
            amount = p[path]
            if fee is not None and fee != amount:
                raise RuleInputError(f"acts.{index}.fee", f"le forfait patient urgences est de {format_eur(amount)}")
            return amount, amount, [ctx.use(path)]
        if fee is None:
            raise RuleInputError(f"acts.{index}.fee", f"montant facturé requis pour l'acte {act.code}")
        return 0, fee, []

    def _prosthesis(
        self, ctx: _Context, index: int, act: Act, base_path: str, fee: int | None
    ) -> tuple[int, int, list[ParameterUse]]:
        if act.basket is None:
            raise RuleInputError(f"acts.{index}.basket", "panier requis (rac0, moderate ou free)")
        base = ctx.p[base_path] * act.quantity
        uses = [ctx.use(base_path)]
        if act.basket == "free":
            if fee is None:
                raise RuleInputError(f"acts.{index}.fee", "montant facturé requis pour une prothèse à tarif libre")
            return base, fee, uses
        limit_path = f"tariffs.dental.crown_fee_limit_{act.basket}"
        limit = ctx.p[limit_path] * act.quantity
        uses.append(ctx.use(limit_path))
        if fee is not None and fee > limit:
            raise RuleInputError(
                f"acts.{index}.fee",
                f"au-delà de l'honoraire limite de facturation du panier ({format_eur(limit)})",
            )
        return base, limit if fee is None else fee, uses

    def _hearing_aid(
        self, ctx: _Context, index: int, act: Act, base_path: str, fee: int | None
    ) -> tuple[int, int, list[ParameterUse]]:
        if act.device_class not in ("I", "II"):
            raise RuleInputError(f"acts.{index}.device_class", "classe I ou II requise pour une aide auditive")
        if act.quantity > 2:
            raise RuleInputError(f"acts.{index}.quantity", "au plus deux aides auditives (une par oreille)")
        base = ctx.p[base_path] * act.quantity
        uses = [ctx.use(base_path)]
        if act.device_class == "II":
            if fee is None:
                raise RuleInputError(f"acts.{index}.fee", "montant facturé requis pour une aide auditive de classe II")
            return base, fee, uses
        young = ctx.status.age < ctx.p["tariffs.audiology.young_until_age"]
        limit_path = "tariffs.audiology.price_limit_class_1_young" if young else "tariffs.audiology.price_limit_class_1"
        limit = ctx.p[limit_path] * act.quantity
        uses.append(ctx.use(limit_path))
        if fee is not None and fee > limit:
            raise RuleInputError(
                f"acts.{index}.fee", f"au-delà du prix limite de vente de la classe I ({format_eur(limit)})"
            )
        return base, limit if fee is None else fee, uses

    def _optics(self, ctx: _Context, index: int, act: Act, fee: int | None) -> tuple[int, int, list[ParameterUse]]:
        if act.device_class not in ("A", "B"):
            raise RuleInputError(f"acts.{index}.device_class", "classe A ou B requise en optique")
        klass = act.device_class.lower()
        if act.code == "FRAME":
            if act.quantity != 1:
                raise RuleInputError(f"acts.{index}.quantity", "une seule monture par ligne")
            base_path = f"tariffs.optics.frame_base_class_{klass}"
            limit_path = "tariffs.optics.frame_price_limit_class_a"
        else:
            if act.correction is None:
                raise RuleInputError(f"acts.{index}.correction", "correction requise (simple, complex, very_complex)")
            if act.quantity > 2:
                raise RuleInputError(f"acts.{index}.quantity", "au plus deux verres par ligne")
            base_path = (
                f"tariffs.optics.lens_base_class_a.{act.correction}"
                if klass == "a"
                else "tariffs.optics.lens_base_class_b"
            )
            limit_path = f"tariffs.optics.lens_price_limit_class_a.{act.correction}"
        base = ctx.p[base_path] * act.quantity
        uses = [ctx.use(base_path)]
        if klass == "b":
            if fee is None:
                raise RuleInputError(f"acts.{index}.fee", "montant facturé requis en classe B (prix libres)")
            return base, fee, uses
        limit = ctx.p[limit_path] * act.quantity
        uses.append(ctx.use(limit_path))
        if fee is not None and fee > limit:
            raise RuleInputError(
                f"acts.{index}.fee", f"au-delà du prix limite de vente de la classe A ({format_eur(limit)})"
            )
        return base, limit if fee is None else fee, uses

    def _rate_path(self, ctx: _Context, definition: ActDefinition, rule: CategoryRule) -> str | None:
        path = definition.rate_path(rule, ctx.event.professional.profession)
        if path is None:
            return None
        event = ctx.event
        if path == "rates.full":
            return path
        if definition.full_rate:
            return "rates.full"
        if ctx.child_exam is not None and rule is self.catalogue.categories[Category.CONSULTATION]:
            return "child_exams.rate"
        if event.ald_care:
            ctx.steps.append(
                Step(
                    "rate.ald",
                    f"Soins en rapport avec l'ALD : pris en charge à {format_rate(ctx.p['rates.full'])}",
                    parameters=(ctx.use("rates.full"),),
                    sources=source_refs("R30"),
                )
            )
            return "rates.full"
        if ctx.maternity:
            return "rates.full"
        for applies, step_rule, why in (
            (
                event.work_injury,
                "rate.work_injury",
                "Soins liés à un accident du travail ou une maladie professionnelle",
            ),
            (
                event.patient.invalidity_pension and definition.rate is None,
                "rate.invalidity",
                "Titulaire d'une pension d'invalidité",
            ),
        ):
            if applies:
                ctx.steps.append(
                    Step(
                        step_rule,
                        f"{why} : exonération du ticket modérateur, pris en charge à {format_rate(ctx.p['rates.full'])}",
                        parameters=(ctx.use("rates.full"),),
                        sources=source_refs("R30", "S15"),
                    )
                )
                return "rates.full"
        return self._local_rate(ctx, path)

    def _local_rate(self, ctx: _Context, path: str) -> str:
        """The régime local d'Alsace-Moselle's own rate for this kind of care, where it has one [T12][T13][T14]."""
        if ctx.event.patient.regime.value != "alsace_moselle":
            return path
        local = f"{_ALSACE_MOSELLE}.{path}"
        if local not in self.parameters or not self.parameters.parameter(local).in_force(ctx.event.date):
            return path
        ctx.steps.append(
            Step(
                "rate.alsace_moselle",
                f"Régime local d'Alsace-Moselle : taux de {format_rate(ctx.p[local])} au lieu de "
                f"{format_rate(ctx.p[path])} (régime général)",
                parameters=(ctx.use(local), ctx.use(path)),
                sources=source_refs("T12", "T13", "T14"),
            )
        )
        return local

    @staticmethod
    def _psychology_refusal(ctx: _Context, act: Act) -> str | None:
        """Mon soutien psy: from 3 years, on a doctor's orientation until direct access opened, within the yearly
        number of sessions (counted in the year-to-date state) [T8][T9][T11]."""
        event, p, counters = ctx.event, ctx.p, ctx.counters
        if ctx.status.age < p["psychology.min_age"]:
            return "psychology_age"
        if not p["psychology.direct_access"] and not (event.referred_by_gp or event.referred_by_other_doctor):
            return "psychology_not_referred"
        done = counters.psychologist_sessions
        if done + act.quantity > p["psychology.yearly_sessions"]:
            return "psychology_yearly_limit"
        counters.psychologist_sessions = done + act.quantity
        ctx.steps.append(
            Step(
                "psychology.sessions",
                f"Mon soutien psy : séance{'s' if act.quantity > 1 else ''} {done + 1}"
                + (f" à {done + act.quantity}" if act.quantity > 1 else "")
                + f" sur {p['psychology.yearly_sessions']} prises en charge cette année civile"
                + ("" if p["psychology.direct_access"] else ", sur orientation d'un médecin"),
                parameters=(ctx.use("psychology.yearly_sessions"), ctx.use("psychology.direct_access")),
                sources=source_refs("T8", "T9", "T11"),
            )
        )
        return None

    def _refusal(self, ctx: _Context, act: Act, definition: ActDefinition, category: Category) -> str | None:
        event, p, counters = ctx.event, ctx.p, ctx.counters
        age = ctx.status.age
        if (definition.min_age is not None and age < definition.min_age) or (
            definition.max_age is not None and age > definition.max_age
        ):
            return "age_condition"
        if ctx.tele_refusal is not None and category is Category.CONSULTATION:
            return ctx.tele_refusal
        if category is Category.TELEEXPERTISE:
            # 4 a year per patient and per doctor [S16a]: counted under "CODE:RPPS"; a bare "CODE" (a state
            # written before, or built by a caller for this professional) counts for the event's professional.
            rpps = event.professional.rpps
            key = act.code if rpps is None else f"{act.code}:{rpps}"
            done = counters.teleexpertise.get(key, 0) + (counters.teleexpertise.get(act.code, 0) if rpps else 0)
            if done + act.quantity > p["teleexpertise.yearly_limit_per_patient"]:
                return "teleexpertise_yearly_limit"
            counters.teleexpertise.pop(act.code, None)
            counters.teleexpertise[key] = done + act.quantity
        if category is Category.PSYCHOLOGY:
            return self._psychology_refusal(ctx, act)
        if category is Category.OPTICS and counters.last_optical is not None:
            if age >= p["tariffs.optics.renewal.adult_from_age"]:
                months = p["tariffs.optics.renewal.adult_months"]
            elif age >= p["tariffs.optics.renewal.child_from_age"]:
                months = p["tariffs.optics.renewal.child_months"]
            else:
                months = p["tariffs.optics.renewal.infant_months"]
            if event.date < add_months(counters.last_optical, months):
                return "early_renewal"
        if category is Category.AUDIOLOGY:
            years = p["tariffs.audiology.renewal_years"]
            for ear in _ears(act):
                last = counters.last_hearing.get(ear)
                if last is not None and event.date < add_years(last, years):
                    return "early_renewal"
        return None

    def _gross(self, ctx: _Context, line: Line, act: Act, category: Category) -> None:
        """Reimbursement before deductions: base × rate, or the hospital variants."""
        if category is Category.HOSPITAL_STAY:
            self._stay_gross(ctx, line, act)
            return
        if category is Category.EMERGENCY_VISIT:
            exempt = ctx.maternity or ctx.newborn
            line.gross = line.base if exempt else 0
            ctx.steps.append(
                Step(
                    "emergency.flat_fee",
                    "Forfait patient urgences "
                    + (
                        "pris en charge (maternité ou nouveau-né)"
                        if exempt
                        else "à la charge du patient (remplace le ticket modérateur)"
                    ),
                    amount=line.base,
                    line=line.index,
                    sources=source_refs("R28"),
                )
            )
            return
        line.gross = apply_rate(line.base, line.rate)
        if line.rate:
            ctx.steps.append(
                Step(
                    "act.gross",
                    f"{format_eur(line.base)} × {format_rate(line.rate)} = {format_eur(line.gross)}",
                    amount=line.gross,
                    line=line.index,
                    sources=source_refs("S5:RG_VF670"),
                )
            )

    @staticmethod
    def _costly_act(ctx: _Context, line: Line, definition: ActDefinition, rule: CategoryRule) -> None:
        """« Forfait 24 € » (art. R160-16 CSS) [S15]: on an act whose tariff reaches the threshold, in town or at the
        hospital, the ticket modérateur is replaced by a flat participation. Not on imaging acts, and not where there
        is no ticket modérateur to replace (ALD-related care, maternity, AT-MP, invalidity pension: 100 %), nor for
        a newborn in its first 30 days. A hospital stay with a costly act is handled with the stay (``_stay_gross``)."""
        if not rule.costly_act_participation or not line.rate or line.category is Category.HOSPITAL_STAY:
            return
        threshold = ctx.use("tariffs.hospital.costly_act_threshold")
        if line.base < threshold.value * line.quantity:
            return
        flat = ctx.use("tariffs.hospital.costly_act_flat_fee")
        excluded = ctx.use("tariffs.hospital.costly_act_excluded_regroupements")
        sources = source_refs("S15", "R30")
        if definition.regroupement is not None and definition.regroupement in excluded.value:
            ctx.steps.append(
                Step(
                    "costly_act.imaging",
                    f"Acte d'imagerie ({definition.regroupement}) de {format_eur(line.base)} : le ticket modérateur reste "
                    f"dû, pas de forfait de {format_eur(flat.value)}",
                    line=line.index,
                    parameters=(threshold, excluded),
                    sources=sources,
                )
            )
            return
        full = ctx.use("rates.full")
        if line.rate >= full.value or ctx.newborn:
            why = (
                "nouveau-né de moins de 30 jours"
                if line.rate < full.value
                else f"pris en charge à {format_rate(full.value)}"
            )
            line.gross = line.base
            ctx.steps.append(
                Step(
                    "costly_act.exempt",
                    f"Acte de {format_eur(line.base)} (au moins {format_eur(threshold.value)}) : pas de forfait de "
                    f"{format_eur(flat.value)} ({why})",
                    amount=line.gross,
                    line=line.index,
                    parameters=(threshold, flat, full),
                    sources=sources,
                )
            )
            return
        line.gross = max(0, line.base - flat.value * line.quantity)
        ctx.steps.append(
            Step(
                "costly_act",
                f"Acte de {format_eur(line.base)} (au moins {format_eur(threshold.value)}) : le ticket modérateur est "
                f"remplacé par le forfait de {format_eur(flat.value)} (art. R160-16 CSS) ; pris en charge "
                f"{format_eur(line.base)} − {format_eur(flat.value * line.quantity)} = {format_eur(line.gross)}",
                amount=line.gross,
                line=line.index,
                parameters=(threshold, flat),
                sources=sources,
            )
        )

    def _stay_gross(self, ctx: _Context, line: Line, act: Act) -> None:
        p = ctx.p
        days = act.days or 1
        if line.rate == p["rates.full"]:
            line.gross = line.base
            ctx.steps.append(
                Step(
                    "stay.full",
                    f"Séjour pris en charge à {format_rate(line.rate)} : {format_eur(line.gross)}",
                    amount=line.gross,
                    line=line.index,
                )
            )
            return
        if act.costly_act:
            flat = ctx.use("tariffs.hospital.costly_act_flat_fee")
            line.gross = max(0, line.base - flat.value)
            ctx.steps.append(
                Step(
                    "stay.costly_act",
                    f"Acte coûteux pendant le séjour : le ticket modérateur est remplacé par une participation de "
                    f"{format_eur(flat.value)}",
                    amount=line.gross,
                    line=line.index,
                    parameters=(flat, ctx.use("tariffs.hospital.costly_act_threshold")),
                )
            )
            return
        full_from = ctx.use("tariffs.hospital.full_rate_from_day")
        copay_days = min(days, full_from.value - 1)
        copay_base = line.base * copay_days // days
        line.gross = apply_rate(copay_base, line.rate) + (line.base - copay_base)
        text = f"Frais de séjour : {format_eur(copay_base)} × {format_rate(line.rate)}"
        if copay_days < days:
            text += (
                f", puis {format_rate(p['rates.full'])} à partir du {full_from.value}e jour "
                f"({format_eur(line.base - copay_base)})"
            )
        ctx.steps.append(
            Step(
                "stay.gross",
                f"{text} = {format_eur(line.gross)}",
                amount=line.gross,
                line=line.index,
                parameters=(full_from,),
            )
        )

    def _daily_charge_line(self, ctx: _Context, index: int, act: Act, stay: Line) -> Line:
        p = ctx.p
        path = "tariffs.hospital.daily_charge_psychiatry" if act.psychiatry else "tariffs.hospital.daily_charge"
        unit = ctx.use(path)
        days = act.days or 1
        amount = unit.value * days
        line = Line(
            index=index,
            code="FJ",
            label="Forfait journalier hospitalier",
            category=Category.HOSPITAL_STAY,
            quantity=days,
            fee=amount,
            base=amount,
            rate=0,
            derived=True,
            attributes={"daily_charge": True, "days": days, "psychiatry": act.psychiatry},
        )
        if stay.status == "rejected":
            return line
        if ctx.event.patient.regime.value == "alsace_moselle" and ctx.p.get_or(
            f"{_ALSACE_MOSELLE}.daily_charge_covered", False
        ):
            line.gross = line.amo = amount
            ctx.steps.append(
                Step(
                    "daily_charge.alsace_moselle",
                    f"Forfait journalier de {format_eur(amount)} pris en charge par le régime local d'Alsace-Moselle",
                    amount=amount,
                    line=index,
                    parameters=(unit, ctx.use(f"{_ALSACE_MOSELLE}.daily_charge_covered")),
                    sources=source_refs("T12", "T14"),
                )
            )
            return line
        if ctx.maternity or ctx.newborn:
            line.gross = line.amo = amount
            ctx.steps.append(
                Step(
                    "daily_charge.exempt",
                    f"Forfait journalier de {format_eur(amount)} pris en charge (maternité ou nouveau-né)",
                    amount=amount,
                    line=index,
                    parameters=(unit,),
                    sources=source_refs("R30", "R26"),
                )
            )
            return line
        imputation = ctx.use("tariffs.hospital.daily_charge_imputed_on_copayment")
        copayment = stay.base - stay.gross
        if imputation.value and not act.costly_act and stay.rate < p["rates.full"] and copayment > 0:
            line.fee = line.base = max(0, amount - copayment)
            ctx.steps.append(
                Step(
                    "daily_charge.imputed",
                    f"Forfait journalier {days} × {format_eur(unit.value)} = {format_eur(amount)}, imputé sur le ticket "
                    f"modérateur du séjour ({format_eur(copayment)}) : reste dû {format_eur(line.fee)}",
                    amount=line.fee,
                    line=index,
                    parameters=(unit, imputation),
                )
            )
            return line
        ctx.steps.append(
            Step(
                "daily_charge",
                f"Forfait journalier {days} × {format_eur(unit.value)} = {format_eur(amount)}, à la charge du patient",
                amount=amount,
                line=index,
                parameters=(unit,),
            )
        )
        return line

    def _majoration(self, ctx: _Context, line: Line, rule: CategoryRule) -> None:
        if not (rule.pathway_majoration and ctx.status.in_pathway is False) or ctx.child_exam is not None:
            return  # a compulsory child examination is paid in full whoever the doctor [T4]
        points = ctx.use("pathway.out_of_pathway_rate_reduction")
        cap = ctx.use("pathway.out_of_pathway_reduction_cap")
        line.majoration = min(apply_rate(line.base, points.value), cap.value, line.gross)
        ctx.steps.append(
            Step(
                "pathway.majoration",
                f"Hors parcours : majoration du ticket modérateur de {format_rate(points.value)} de la base, "
                f"plafonnée à {format_eur(cap.value)} : −{format_eur(line.majoration)}",
                amount=line.majoration,
                line=line.index,
                parameters=(points, cap),
                sources=source_refs("S5:RG_VF671", "S4"),
            )
        )

    def _participation(self, ctx: _Context, line: Line, rule: CategoryRule, definition: ActDefinition) -> None:
        applies = definition.bears_participation(rule, ctx.event.professional.profession) or (
            line.category is Category.TELEEXPERTISE and ctx.p["participation.applies_to_teleexpertise"]
        )
        if not applies:
            return
        if ctx.participation_exemption is not None or ctx.has_stay:
            why, uses = ctx.participation_exemption or ("hospitalisation complète", ())
            ctx.steps.append(
                Step(
                    "participation.exempt",
                    f"Pas de participation forfaitaire : {why}",
                    line=line.index,
                    parameters=uses,
                )
            )
            return
        counters = ctx.counters
        amount = ctx.use("participation.amount")
        daily = ctx.use("participation.daily_count_per_professional")
        annual = ctx.use("participation.annual_cap")
        units = min(line.quantity, max(0, daily.value - counters.same_day_participations))
        counters.same_day_participations += units
        nominal = min(units * amount.value, line.gross - line.majoration)
        line.participation = min(nominal, max(0, annual.value - counters.participation_paid))
        counters.participation_paid += line.participation
        text = f"Participation forfaitaire : −{format_eur(line.participation)}"
        if units < line.quantity:
            text += f" (limite de {daily.value} par jour chez un même professionnel)"
        elif line.participation < units * amount.value:
            text += f" (plafond annuel de {format_eur(annual.value)} ou remboursement insuffisant)"
        ctx.steps.append(
            Step(
                "participation",
                text,
                amount=line.participation,
                line=line.index,
                parameters=(amount, daily, annual),
                sources=source_refs("S5:RG_VF670"),
            )
        )

    def _franchise(self, ctx: _Context, line: Line, act: Act, rule: CategoryRule) -> None:
        kind = rule.franchise
        if kind is None:
            return
        exemption = ctx.franchise_exemption
        if exemption is not None or ctx.has_stay or (kind == "transport" and ctx.event.emergency):
            why, read = exemption or ("hospitalisation" if ctx.has_stay else "transport d'urgence", ())
            ctx.steps.append(
                Step("franchise.exempt", f"Pas de franchise médicale : {why}", line=line.index, parameters=read)
            )
            return
        counters = ctx.counters
        per_unit = ctx.use(
            {
                "medicine": "franchises.medicine_per_box",
                "paramedical": "franchises.paramedical_per_act",
                "transport": "franchises.transport_per_trip",
            }[kind]
        )
        annual = ctx.use("franchises.annual_cap")
        uses = [per_unit, annual]
        amount = per_unit.value * act.quantity
        if kind == "paramedical":
            cap = ctx.use("franchises.paramedical_daily_cap")
            amount = min(amount, max(0, cap.value - counters.same_day_paramedical))
            counters.same_day_paramedical += amount
            uses.append(cap)
        elif kind == "transport":
            cap = ctx.use("franchises.transport_daily_cap")
            amount = min(amount, max(0, cap.value - counters.same_day_transport))
            counters.same_day_transport += amount
            uses.append(cap)
        amount = min(amount, line.gross - line.majoration - line.participation)
        line.franchise = min(amount, max(0, annual.value - counters.franchises_paid))
        counters.franchises_paid += line.franchise
        ctx.steps.append(
            Step(
                "franchise",
                f"Franchise médicale : −{format_eur(line.franchise)}",
                amount=line.franchise,
                line=line.index,
                parameters=tuple(uses),
                sources=source_refs("S13"),
            )
        )

    def _classify_overrun(self, ctx: _Context, line: Line, in_pathway_tariff: int | None = None) -> None:
        line.overrun = max(0, line.fee - line.base)
        if line.category is Category.PRIVATE_ROOM:
            line.overrun_kind = "not_reimbursable"
            return
        if not line.overrun:
            return
        event = ctx.event
        pro = event.professional
        kind: OverrunKind
        if line.category in _DEVICE_CATEGORIES:
            kind = "device_price"
        elif line.category is Category.PSYCHOLOGY:
            kind = "unauthorised_overrun"
            ctx.warnings.append(
                f"{line.code} : dépassement de {format_eur(line.overrun)} interdit dans le dispositif Mon soutien psy"
            )
        elif pro.sector == "3":
            kind = "non_contracted_overrun"
        elif line.category in _SPECIALIST_CATEGORIES_WITH_OVERRUN and pro.sector == "2":
            kind = "optam_overrun" if pro.optam else "non_optam_overrun"
        elif (
            line.category is Category.CONSULTATION
            and ctx.status.in_pathway is False
            and pro.specialty is not Specialty.GENERAL_PRACTICE
            and not event.patient.c2s
        ):
            kind = self._authorised_overrun(ctx, line, line.base if in_pathway_tariff is None else in_pathway_tariff)
        else:
            kind = "unauthorised_overrun"
            ctx.warnings.append(
                f"{line.code} : dépassement de {format_eur(line.overrun)} non prévu pour ce professionnel "
                "(seule l'exigence particulière du patient, DE, le permet)"
            )
        if event.patient.c2s and kind != "device_price":
            ctx.warnings.append(
                f"{line.code} : dépassement d'honoraires interdit pour un bénéficiaire de la C2S (art. L162-5-13 CSS)"
            )
        line.overrun_kind = kind

    def _authorised_overrun(self, ctx: _Context, line: Line, tariff: int) -> OverrunKind:
        """DA: up to 17,5 % over the in-pathway tariff (with its coordination majoration); since the 2011
        convention (art. 37.1) the billed amount, rounded up to the euro, may not exceed the tariff × 1,175: at most
        the whole euros below it [S11][T16][R10]."""
        rate = ctx.use("pathway.authorised_overrun_rate")
        rounding = ctx.use("pathway.authorised_overrun_rounding")
        limit = apply_rate(tariff, 10_000 + rate.value)
        if rounding.value == "whole_euros_within":
            ceiling = limit // 100 * 100
            how = "montant facturé arrondi à l'euro supérieur au plus égal au tarif majoré de 17,5 %"
        elif rounding.value == "total_ceiling":
            ceiling = ceil_to_euro(limit)
            how = "arrondi à l'euro supérieur"
        else:
            ceiling = tariff + ceil_to_euro(apply_rate(tariff, rate.value))
            how = "dépassement arrondi à l'euro supérieur"
        allowed = ceiling - line.base
        within = line.overrun <= allowed
        ctx.steps.append(
            Step(
                "pathway.authorised_overrun",
                f"Spécialiste de secteur 1 consulté hors parcours : dépassement autorisé jusqu'à {format_eur(ceiling)} "
                f"facturés ({format_rate(rate.value)} du tarif dans le parcours de {format_eur(tariff)}, {how}) ; "
                f"dépassement facturé {format_eur(line.overrun)}, non remboursé"
                + ("" if within else " et au-delà du plafond"),
                amount=line.overrun,
                line=line.index,
                parameters=(rate, rounding),
                sources=source_refs("S11", "T16"),
            )
        )
        if not within:
            ctx.warnings.append(f"{line.code} : dépassement supérieur au dépassement autorisé ({format_eur(allowed)})")
            return "authorised_overrun_exceeded"
        return "authorised_overrun"

    @staticmethod
    def _record_devices(ctx: _Context, act: Act, category: Category) -> None:
        if category is Category.OPTICS:
            ctx.counters.optics_bought = True
        elif category is Category.AUDIOLOGY:
            ctx.counters.hearing_bought.extend(_ears(act))


def _after(birth: dt.date, age: ParameterUse) -> dt.date:
    """The date a child born on ``birth`` reaches ``age`` (a parameter in days, months or years)."""
    if age.unit == "days":
        return birth + dt.timedelta(days=age.value)
    if age.unit == "months":
        return add_months(birth, age.value)
    return add_years(birth, age.value)


def _check_non_contracted(
    index: int, act: Act, definition: ActDefinition, category: Category, profession: Profession
) -> None:
    """What parcours computes for a non-contracted (secteur 3) professional: a doctor's consultation, with its fee."""
    if profession is not Profession.PHYSICIAN or category is not Category.CONSULTATION or definition.base != "tariff":
        raise RuleInputError(
            "professional.sector",
            f"secteur 3 (non conventionné) : seul le tarif d'autorité des consultations de médecin est pris en "
            f"compte ; l'acte {act.code} est hors du périmètre de parcours",
        )
    if act.fee is None:
        raise RuleInputError(
            f"acts.{index}.fee",
            "montant facturé requis : un médecin non conventionné (secteur 3) fixe librement ses honoraires",
        )


def _ears(act: Act) -> list[str]:
    if act.ear is not None:
        return [act.ear]
    return ["left", "right"] if act.quantity == 2 else ["right"]


def _act_attributes(act: Act) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name in ("coefficient", "days", "device_class", "correction", "basket", "ear"):
        value = getattr(act, name)
        if value is not None:
            attributes[name] = float(value) if isinstance(value, Decimal) else value
    if act.psychiatry:
        attributes["psychiatry"] = True
    if act.costly_act:
        attributes["costly_act"] = True
    return attributes


_default_engine: Engine | None = None


def default_engine() -> Engine:
    global _default_engine
    if _default_engine is None:
        _default_engine = Engine()
    return _default_engine


def adjudicate(event: CareEvent, state: YearToDate | None = None) -> Adjudication:
    """Adjudicate one event with the shipped parameters."""
    return default_engine().adjudicate(event, state)

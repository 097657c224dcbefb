//! The eligibility gRPC API: parse the request, apply the domain, store, reply.

use std::sync::Arc;

use clock::SharedClock;
use contracts::eligibility::v1 as pb;
use contracts::eligibility::v1::eligibility_service_server::EligibilityService;
use serving::ApiError;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use vault::Vault;

use crate::claims::{self, Approval, NewClaim};
use crate::domain::bank::{BankDestination, DestinationKind};
use crate::domain::ids::{CitizenId, LegacyId, Sex, SocialInsuranceNumber};
use crate::domain::money::Dong;
use crate::import;
use crate::lifecycle;
use crate::store::claims as claim_store;
use crate::store::decisions as decision_store;
use crate::store::destinations;
use crate::store::persons::{self, NewPerson};
use crate::store::rates::{self, CurrentRates, RateColumn, RateSet};
use crate::wire;

/// The EligibilityService implementation.
pub struct Api {
    pool: PgPool,
    clock: SharedClock,
    rates: CurrentRates,
    vault: Arc<Vault>,
}

impl Api {
    /// An API over the service's pool, clock, rate book and the vault sealing card and account
    /// numbers.
    pub fn new(pool: PgPool, clock: SharedClock, rates: CurrentRates, vault: Arc<Vault>) -> Self {
        Self {
            pool,
            clock,
            rates,
            vault,
        }
    }

    async fn register_person(
        &self,
        request: pb::RegisterPersonRequest,
    ) -> Result<pb::RegisterPersonResponse, ApiError> {
        let full_name = wire::text("full_name", &request.full_name)?;
        let birth_date = wire::date("birth_date", request.birth_date.as_ref())?;
        let sex = match pb::Sex::try_from(request.sex) {
            Ok(pb::Sex::Male) => Sex::Male,
            Ok(pb::Sex::Female) => Sex::Female,
            _ => return Err(ApiError::invalid("sex", "is required")),
        };
        let citizen_id = CitizenId::parse(request.citizen_id.trim())
            .and_then(|id| id.check_against(birth_date, sex).map(|()| id))
            .map_err(|error| ApiError::invalid("citizen_id", error.to_string()))?;
        let legacy_id = match request.legacy_id.trim() {
            "" => None,
            text => Some(
                LegacyId::parse(text)
                    .map_err(|error| ApiError::invalid("legacy_id", error.to_string()))?,
            ),
        };
        let number = SocialInsuranceNumber::parse(request.social_insurance_number.trim())
            .map_err(|error| ApiError::invalid("social_insurance_number", error.to_string()))?;
        let province = wire::text("province", &request.province)?;
        let officer = wire::officer("officer", request.officer.as_ref())?;

        let citizen_id = citizen_id.as_string();
        let legacy_id = legacy_id.map(|id| id.as_string());
        let number = number.as_string();
        let new = NewPerson {
            person_id: uuid::Uuid::now_v7(),
            full_name: &full_name,
            birth_date,
            sex: match sex {
                Sex::Male => "male",
                Sex::Female => "female",
            },
            citizen_id: &citizen_id,
            legacy_id: legacy_id.as_deref(),
            social_insurance_number: &number,
            province: &province,
            officer_id: &officer.id,
            at: self.clock.now(),
        };
        let mut tx = self.pool.begin().await?;
        if !persons::insert(&mut tx, &new).await? {
            return Err(ApiError::Conflict(
                "a person with this citizen id is already registered".into(),
            ));
        }
        let person = persons::find(&mut tx, new.person_id, false)
            .await?
            .ok_or_else(|| ApiError::Internal("registered person not found".into()))?;
        tx.commit().await?;
        tracing::info!(person_id = %person.person_id, "person registered");
        Ok(pb::RegisterPersonResponse {
            person: Some(wire::pb_person(&person)),
        })
    }

    async fn get_person(
        &self,
        request: pb::GetPersonRequest,
    ) -> Result<pb::GetPersonResponse, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let person = match request.key {
            Some(pb::get_person_request::Key::PersonId(id)) => {
                persons::find(&mut conn, wire::id("person_id", &id)?, false).await?
            }
            Some(pb::get_person_request::Key::Identifier(identifier))
                if identifier.kind == pb::IdentifierKind::CitizenId as i32 =>
            {
                persons::find_by_citizen_id(&mut conn, identifier.value.trim()).await?
            }
            Some(pb::get_person_request::Key::Identifier(_)) => {
                return Err(ApiError::invalid(
                    "identifier.kind",
                    "only a citizen id names exactly one person",
                ));
            }
            None => return Err(ApiError::invalid("key", "is required")),
        };
        let person = person.ok_or_else(|| ApiError::NotFound("person".into()))?;
        Ok(pb::GetPersonResponse {
            person: Some(wire::pb_person(&person)),
        })
    }

    async fn register_claim(
        &self,
        request: pb::RegisterClaimRequest,
    ) -> Result<pb::RegisterClaimResponse, ApiError> {
        let person_id = wire::id("person_id", &request.person_id)?;
        let termination_date = wire::date("termination_date", request.termination_date.as_ref())?;
        let filing_date = wire::date("filing_date", request.filing_date.as_ref())?;
        if filing_date < termination_date {
            return Err(ApiError::invalid(
                "filing_date",
                "is before the termination date",
            ));
        }
        let end_reason = pb::EmploymentEndReason::try_from(request.end_reason)
            .ok()
            .filter(|reason| *reason != pb::EmploymentEndReason::Unspecified)
            .ok_or_else(|| ApiError::invalid("end_reason", "is required"))?;
        let last_contract_type =
            contracts::common::v1::ContractType::try_from(request.last_contract_type)
                .ok()
                .and_then(wire::contract_name)
                .ok_or_else(|| ApiError::invalid("last_contract_type", "is required"))?;
        let destination = request
            .bank_destination
            .as_ref()
            .ok_or_else(|| ApiError::invalid("bank_destination", "is required"))?;
        let kind = match contracts::common::v1::DestinationKind::try_from(destination.kind) {
            Ok(contracts::common::v1::DestinationKind::Card) => DestinationKind::Card,
            Ok(contracts::common::v1::DestinationKind::Account) => DestinationKind::Account,
            _ => return Err(ApiError::invalid("bank_destination.kind", "is required")),
        };
        let bank = BankDestination::parse(
            destination.bank_id.trim(),
            kind,
            destination.number.trim(),
            &destination.holder_name,
        )
        .map_err(|error| ApiError::invalid("bank_destination", error.to_string()))?;
        let claim = NewClaim {
            person_id,
            termination_date,
            end_reason,
            last_contract_type,
            filing_date,
            bank,
            qualifies_for_pension: request.qualifies_for_pension,
            province: wire::text("province", &request.province)?,
            centre_id: wire::text("centre_id", &request.centre_id)?,
            officer: wire::officer("officer", request.officer.as_ref())?,
        };
        let mut tx = self.pool.begin().await?;
        let view = claims::register(
            &mut tx,
            &self.rates.get(),
            &self.vault,
            self.clock.now(),
            claim,
        )
        .await?;
        tx.commit().await?;
        Ok(pb::RegisterClaimResponse {
            claim: Some(wire::pb_claim(&view)),
        })
    }

    async fn get_claim(
        &self,
        request: pb::GetClaimRequest,
    ) -> Result<pb::GetClaimResponse, ApiError> {
        let claim_id = wire::id("claim_id", &request.claim_id)?;
        let mut conn = self.pool.acquire().await?;
        let view = claims::view(&mut conn, claim_id).await?;
        Ok(pb::GetClaimResponse {
            claim: Some(wire::pb_claim(&view)),
        })
    }

    async fn approve_claim(
        &self,
        request: pb::ApproveClaimRequest,
    ) -> Result<pb::ApproveClaimResponse, ApiError> {
        let approval = Approval {
            claim_id: wire::id("claim_id", &request.claim_id)?,
            decision_number: Some(request.decision_number.trim().to_owned())
                .filter(|number| !number.is_empty()),
            handover_date: match request.handover_date.as_ref() {
                Some(date) => Some(wire::date("handover_date", Some(date))?),
                None => None,
            },
            officer: wire::officer("officer", request.officer.as_ref())?,
        };
        let mut tx = self.pool.begin().await?;
        let decision_id = claims::approve(
            &mut tx,
            &self.rates.get(),
            &self.vault,
            self.clock.now(),
            self.clock.today(),
            approval,
        )
        .await?;
        tx.commit().await?;
        Ok(pb::ApproveClaimResponse {
            decision: Some(self.decision(decision_id).await?),
        })
    }

    async fn reject_claim(
        &self,
        request: pb::RejectClaimRequest,
    ) -> Result<pb::RejectClaimResponse, ApiError> {
        let claim_id = wire::id("claim_id", &request.claim_id)?;
        let reason = wire::text("reason", &request.reason)?;
        let officer = wire::officer("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        claims::reject(&mut tx, self.clock.now(), claim_id, &reason, &officer).await?;
        let view = claims::view(&mut tx, claim_id).await?;
        tx.commit().await?;
        Ok(pb::RejectClaimResponse {
            claim: Some(wire::pb_claim(&view)),
        })
    }

    async fn decision(&self, decision_id: uuid::Uuid) -> Result<pb::Decision, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let decision = decision_store::find(&mut conn, decision_id, false)
            .await?
            .ok_or_else(|| ApiError::NotFound("decision".into()))?;
        let months = decision_store::months(&mut conn, decision_id).await?;
        let history = decision_store::history(&mut conn, decision_id).await?;
        let claim = claims::view(&mut conn, decision.claim_id).await?;
        let number = destinations::open(&self.vault, decision.destination_sealed.as_deref())?;
        Ok(wire::pb_decision(
            &decision,
            number,
            &months,
            &history,
            wire::stored_assessment(&claim.claim.assessment),
        ))
    }

    async fn terminate_decision(
        &self,
        request: pb::TerminateDecisionRequest,
    ) -> Result<pb::TerminateDecisionResponse, ApiError> {
        let decision_id = wire::id("decision_id", &request.decision_id)?;
        let reason = contracts::common::v1::TerminationReason::try_from(request.reason)
            .ok()
            .and_then(wire::end_reason)
            .ok_or_else(|| ApiError::invalid("reason", "is required"))?;
        let effective_on = wire::date("effective_date", request.effective_date.as_ref())?;
        let officer = wire::officer("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        let mut decision = decision_store::find(&mut tx, decision_id, true)
            .await?
            .ok_or_else(|| ApiError::NotFound("decision".into()))?;
        lifecycle::terminate(
            &mut tx,
            &self.rates.get(),
            self.clock.now(),
            &mut decision,
            reason,
            effective_on,
            request.note.trim(),
            Some(&officer.id),
        )
        .await
        .map_err(|error| match error {
            lifecycle::LifecycleError::NotLive(state) => {
                ApiError::Conflict(format!("decision is already {state}"))
            }
            lifecycle::LifecycleError::Store(error) => error.into(),
            other => ApiError::Internal(other.to_string()),
        })?;
        tx.commit().await?;
        Ok(pb::TerminateDecisionResponse {
            decision: Some(self.decision(decision_id).await?),
        })
    }

    async fn link_identifier(
        &self,
        request: pb::LinkIdentifierRequest,
    ) -> Result<pb::LinkIdentifierResponse, ApiError> {
        let person_id = wire::id("person_id", &request.person_id)?;
        let identifier = request
            .identifier
            .as_ref()
            .ok_or_else(|| ApiError::invalid("identifier", "is required"))?;
        let (kind, value) = match pb::IdentifierKind::try_from(identifier.kind) {
            Ok(pb::IdentifierKind::LegacyId) => (
                "legacy_id",
                LegacyId::parse(identifier.value.trim())
                    .map_err(|error| ApiError::invalid("identifier.value", error.to_string()))?
                    .as_string(),
            ),
            Ok(pb::IdentifierKind::SocialInsuranceNumber) => (
                "social_insurance_number",
                SocialInsuranceNumber::parse(identifier.value.trim())
                    .map_err(|error| ApiError::invalid("identifier.value", error.to_string()))?
                    .as_string(),
            ),
            _ => {
                return Err(ApiError::invalid(
                    "identifier.kind",
                    "must be a legacy id or a social insurance number",
                ));
            }
        };
        let officer = wire::officer("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        persons::find(&mut tx, person_id, true)
            .await?
            .ok_or_else(|| ApiError::NotFound("person".into()))?;
        persons::link(
            &mut tx,
            person_id,
            kind,
            &value,
            &officer.id,
            self.clock.now(),
        )
        .await?;
        let person = persons::find(&mut tx, person_id, false)
            .await?
            .ok_or_else(|| ApiError::NotFound("person".into()))?;
        tx.commit().await?;
        Ok(pb::LinkIdentifierResponse {
            person: Some(wire::pb_person(&person)),
        })
    }

    async fn list_duplicate_holds(
        &self,
        request: pb::ListDuplicateHoldsRequest,
    ) -> Result<pb::ListDuplicateHoldsResponse, ApiError> {
        let page_size = match request.page_size {
            0 => 50,
            size => i64::from(size.min(500)),
        };
        let after: i64 = match request.page_token.as_str() {
            "" => 0,
            token => token
                .parse()
                .ok()
                .filter(|offset: &i64| *offset >= 0)
                .ok_or_else(|| {
                    ApiError::invalid("page_token", "is not a token this service gave")
                })?,
        };
        let province = Some(request.province.trim()).filter(|province| !province.is_empty());
        let mut conn = self.pool.acquire().await?;
        let holds = claim_store::open_holds(&mut conn, province, after, page_size + 1).await?;
        let more = i64::try_from(holds.len()).unwrap_or(i64::MAX) > page_size;
        let holds: Vec<pb::DuplicateHold> = holds
            .iter()
            .take(usize::try_from(page_size).unwrap_or(usize::MAX))
            .map(wire::pb_hold)
            .collect();
        Ok(pb::ListDuplicateHoldsResponse {
            next_page_token: if more {
                (after + page_size).to_string()
            } else {
                String::new()
            },
            holds,
        })
    }

    async fn resolve_duplicate_hold(
        &self,
        request: pb::ResolveDuplicateHoldRequest,
    ) -> Result<pb::ResolveDuplicateHoldResponse, ApiError> {
        let hold_id = wire::id("hold_id", &request.hold_id)?;
        let finding = match pb::HoldResolution::try_from(request.resolution) {
            Ok(pb::HoldResolution::SamePerson) => claims::Finding::SamePerson,
            Ok(pb::HoldResolution::DifferentPerson) => claims::Finding::DifferentPerson,
            _ => return Err(ApiError::invalid("resolution", "is required")),
        };
        let officer = wire::officer("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        let claim_id = claims::resolve_hold(
            &mut tx,
            self.clock.now(),
            hold_id,
            finding,
            request.note.trim(),
            &officer,
        )
        .await?;
        let view = claims::view(&mut tx, claim_id).await?;
        tx.commit().await?;
        Ok(pb::ResolveDuplicateHoldResponse {
            claim: Some(wire::pb_claim(&view)),
        })
    }

    async fn person_decisions(
        &self,
        request: pb::ListPersonDecisionsRequest,
    ) -> Result<pb::ListPersonDecisionsResponse, ApiError> {
        let person_id = wire::id("person_id", &request.person_id)?;
        let ids = {
            let mut conn = self.pool.acquire().await?;
            decision_store::of_person(&mut conn, person_id).await?
        };
        let mut decisions = Vec::new();
        for decision_id in ids {
            decisions.push(self.decision(decision_id).await?);
        }
        Ok(pb::ListPersonDecisionsResponse { decisions })
    }

    fn operator(
        field: &str,
        officer: Option<&contracts::common::v1::Officer>,
    ) -> Result<wire::Officer, ApiError> {
        let officer = wire::officer(field, officer)?;
        if officer.agency != contracts::common::v1::Agency::Operator {
            return Err(ApiError::PermissionDenied(
                "only an operator may change rate data".into(),
            ));
        }
        Ok(officer)
    }

    /// Applies a rate change in `tx`, checks that the rate data still makes a valid rate book,
    /// commits and puts the new book in force.
    async fn commit_rates(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), ApiError> {
        let book = rates::load_rate_book_in(&mut tx)
            .await
            .map_err(|error| match error {
                crate::store::StoreError::Corrupt { reason, .. } => {
                    ApiError::Conflict(format!("the rate data would be invalid: {reason}"))
                }
                other => other.into(),
            })?;
        tx.commit().await?;
        self.rates.replace(book);
        Ok(())
    }

    async fn rate_data(
        &self,
        request: pb::GetRateDataRequest,
    ) -> Result<pb::GetRateDataResponse, ApiError> {
        let as_of = match request.as_of.as_ref() {
            Some(date) => Some(wire::date("as_of", Some(date))?),
            None => None,
        };
        let mut conn = self.pool.acquire().await?;
        let listing = rates::listing(&mut conn, as_of).await?;
        let mut rate_list = Vec::new();
        for rules in listing.rules {
            let regime = if rules.regime == "2013" {
                pb::Regime::Regime2013
            } else {
                pb::Regime::Regime2025
            } as i32;
            let mut add = |kind: pb::RateKind, value: i32| {
                rate_list.push(pb::Rate {
                    kind: kind as i32,
                    regime,
                    effective_from: Some(wire::pb_date(rules.effective_from)),
                    value: i64::from(value),
                    source: rules.source.clone(),
                });
            };
            add(
                pb::RateKind::BenefitShareBasisPoints,
                rules.benefit_basis_points,
            );
            add(
                pb::RateKind::CapMinimumWageMultiple,
                rules.regional_cap_multiplier,
            );
            if let Some(multiple) = rules.state_scale_cap_multiplier {
                add(pb::RateKind::CapBaseSalaryMultiple, multiple);
            }
            add(
                pb::RateKind::HealthInsuranceBasisPoints,
                rules.health_insurance_basis_points,
            );
        }
        Ok(pb::GetRateDataResponse {
            minimum_wages: listing
                .wages
                .into_iter()
                .map(|(from, region, amount, source)| pb::RegionalMinimumWage {
                    region: i32::from(region),
                    effective_from: Some(wire::pb_date(from)),
                    amount_dong: amount,
                    source,
                })
                .collect(),
            base_salaries: listing
                .base_salaries
                .into_iter()
                .map(|(from, amount, source)| pb::BaseSalary {
                    effective_from: Some(wire::pb_date(from)),
                    amount_dong: amount,
                    source,
                })
                .collect(),
            rates: rate_list,
            holidays: listing
                .holidays
                .into_iter()
                .map(|(day, name)| pb::Holiday {
                    date: Some(wire::pb_date(day)),
                    name,
                })
                .collect(),
        })
    }

    async fn set_minimum_wage(
        &self,
        request: pb::SetRegionalMinimumWageRequest,
    ) -> Result<pb::SetRegionalMinimumWageResponse, ApiError> {
        let wage = request
            .minimum_wage
            .ok_or_else(|| ApiError::invalid("minimum_wage", "is required"))?;
        let region = wire::region(wage.region)
            .ok_or_else(|| ApiError::invalid("minimum_wage.region", "is required"))?;
        let from = wire::date("minimum_wage.effective_from", wage.effective_from.as_ref())?;
        let amount = Dong::new(wage.amount_dong)
            .ok()
            .filter(|amount| *amount > Dong::ZERO)
            .ok_or_else(|| ApiError::invalid("minimum_wage.amount_dong", "must be positive"))?;
        let source = wire::text("minimum_wage.source", &wage.source)?;
        let officer = Self::operator("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        rates::set_regional_minimum_wage(&mut tx, from, region, amount, &source).await?;
        rates::record_change(
            &mut tx,
            "regional_minimum_wage",
            from,
            &format!("region {region}: {amount} ({source})"),
            &officer.id,
            self.clock.now(),
        )
        .await?;
        self.commit_rates(tx).await?;
        tracing::info!(officer_id = %officer.id, %region, effective_from = %from, "regional minimum wage set");
        Ok(pb::SetRegionalMinimumWageResponse {
            minimum_wage: Some(pb::RegionalMinimumWage { source, ..wage }),
        })
    }

    async fn set_base_salary(
        &self,
        request: pb::SetBaseSalaryRequest,
    ) -> Result<pb::SetBaseSalaryResponse, ApiError> {
        let salary = request
            .base_salary
            .ok_or_else(|| ApiError::invalid("base_salary", "is required"))?;
        let from = wire::date("base_salary.effective_from", salary.effective_from.as_ref())?;
        let amount = Dong::new(salary.amount_dong)
            .ok()
            .filter(|amount| *amount > Dong::ZERO)
            .ok_or_else(|| ApiError::invalid("base_salary.amount_dong", "must be positive"))?;
        let source = wire::text("base_salary.source", &salary.source)?;
        let officer = Self::operator("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        rates::set_base_salary(&mut tx, from, amount, &source).await?;
        rates::record_change(
            &mut tx,
            "base_salary",
            from,
            &format!("{amount} ({source})"),
            &officer.id,
            self.clock.now(),
        )
        .await?;
        self.commit_rates(tx).await?;
        tracing::info!(officer_id = %officer.id, effective_from = %from, "base salary set");
        Ok(pb::SetBaseSalaryResponse {
            base_salary: Some(pb::BaseSalary { source, ..salary }),
        })
    }

    async fn set_rate(&self, request: pb::SetRateRequest) -> Result<pb::SetRateResponse, ApiError> {
        let rate = request
            .rate
            .ok_or_else(|| ApiError::invalid("rate", "is required"))?;
        let (column, range) = match pb::RateKind::try_from(rate.kind) {
            Ok(pb::RateKind::BenefitShareBasisPoints) => (RateColumn::BenefitShare, 1..=10_000),
            Ok(pb::RateKind::CapMinimumWageMultiple) => (RateColumn::RegionalCapMultiple, 1..=100),
            Ok(pb::RateKind::CapBaseSalaryMultiple) => (RateColumn::StateScaleCapMultiple, 1..=100),
            Ok(pb::RateKind::HealthInsuranceBasisPoints) => {
                (RateColumn::HealthInsurance, 0..=10_000)
            }
            _ => return Err(ApiError::invalid("rate.kind", "is required")),
        };
        let regime = match pb::Regime::try_from(rate.regime) {
            Ok(pb::Regime::Regime2013) => "2013",
            Ok(pb::Regime::Regime2025) => "2025",
            _ => return Err(ApiError::invalid("rate.regime", "is required")),
        };
        let from = wire::date("rate.effective_from", rate.effective_from.as_ref())?;
        let value = i32::try_from(rate.value)
            .ok()
            .filter(|value| range.contains(value))
            .ok_or_else(|| {
                ApiError::invalid(
                    "rate.value",
                    format!(
                        "must be from {} to {} for this kind of rate",
                        range.start(),
                        range.end()
                    ),
                )
            })?;
        let source = wire::text("rate.source", &rate.source)?;
        let officer = Self::operator("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        let sources = match rates::set_rate(&mut tx, from, regime, column, value, &source).await? {
            RateSet::Recorded(sources) => sources,
            RateSet::NoRegimeInForce => {
                return Err(ApiError::invalid(
                    "rate.effective_from",
                    format!("no regime is in force on {from}"),
                ));
            }
            RateSet::OtherRegimeInForce(in_force) => {
                return Err(ApiError::invalid(
                    "rate.regime",
                    format!("the {in_force} regime, not the {regime} one, is in force on {from}"),
                ));
            }
        };
        rates::record_change(
            &mut tx,
            "rate",
            from,
            &format!("{:?} of the {regime} regime: {value} ({source})", column),
            &officer.id,
            self.clock.now(),
        )
        .await?;
        self.commit_rates(tx).await?;
        tracing::info!(officer_id = %officer.id, regime, rate = ?column, effective_from = %from, "rate set");
        Ok(pb::SetRateResponse {
            rate: Some(pb::Rate {
                source: sources,
                ..rate
            }),
        })
    }

    async fn add_holiday(
        &self,
        request: pb::AddHolidayRequest,
    ) -> Result<pb::AddHolidayResponse, ApiError> {
        let holiday = request
            .holiday
            .ok_or_else(|| ApiError::invalid("holiday", "is required"))?;
        let day = wire::date("holiday.date", holiday.date.as_ref())?;
        let name = wire::text("holiday.name", &holiday.name)?;
        let officer = Self::operator("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        rates::add_holiday(&mut tx, day, &name).await?;
        rates::record_change(
            &mut tx,
            "holiday_added",
            day,
            &name,
            &officer.id,
            self.clock.now(),
        )
        .await?;
        self.commit_rates(tx).await?;
        tracing::info!(officer_id = %officer.id, %day, "public holiday added");
        Ok(pb::AddHolidayResponse {
            holiday: Some(pb::Holiday { name, ..holiday }),
        })
    }

    async fn remove_holiday(
        &self,
        request: pb::RemoveHolidayRequest,
    ) -> Result<pb::RemoveHolidayResponse, ApiError> {
        let day = wire::date("date", request.date.as_ref())?;
        let officer = Self::operator("officer", request.officer.as_ref())?;
        let mut tx = self.pool.begin().await?;
        if !rates::remove_holiday(&mut tx, day).await? {
            return Err(ApiError::NotFound("holiday".into()));
        }
        rates::record_change(
            &mut tx,
            "holiday_removed",
            day,
            "",
            &officer.id,
            self.clock.now(),
        )
        .await?;
        self.commit_rates(tx).await?;
        tracing::info!(officer_id = %officer.id, %day, "public holiday removed");
        Ok(pb::RemoveHolidayResponse {})
    }

    async fn reserved_months(
        &self,
        request: pb::GetReservedMonthsRequest,
    ) -> Result<pb::GetReservedMonthsResponse, ApiError> {
        let person_id = wire::id("person_id", &request.person_id)?;
        let mut conn = self.pool.acquire().await?;
        let current = decision_store::earlier_benefit(&mut conn, person_id).await?;
        let entries = decision_store::reserved_of_person(&mut conn, person_id).await?;
        Ok(pb::GetReservedMonthsResponse {
            total_months: current
                .map(|(_, months)| u32::try_from(months).unwrap_or_default())
                .unwrap_or_default(),
            entries: entries
                .into_iter()
                .map(
                    |(decision_id, months, on, reason)| pb::ReservedMonthsEntry {
                        decision_id: decision_id.to_string(),
                        months: u32::try_from(months).unwrap_or_default(),
                        reserved_on: Some(wire::pb_date(on)),
                        reason: match reason.as_str() {
                            "above_converted" => "contribution months above those converted",
                            _ => "unused months of a benefit ended early",
                        }
                        .to_owned(),
                    },
                )
                .collect(),
        })
    }
}

fn reply<T>(result: Result<T, ApiError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl EligibilityService for Api {
    async fn import_contributions(
        &self,
        request: Request<tonic::Streaming<pb::ImportContributionsRequest>>,
    ) -> Result<Response<pb::ImportContributionsResponse>, Status> {
        reply(
            import::run(
                &self.pool,
                self.rates.get(),
                self.clock.now(),
                request.into_inner(),
            )
            .await,
        )
    }

    async fn register_person(
        &self,
        request: Request<pb::RegisterPersonRequest>,
    ) -> Result<Response<pb::RegisterPersonResponse>, Status> {
        reply(Api::register_person(self, request.into_inner()).await)
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        reply(Api::get_person(self, request.into_inner()).await)
    }

    async fn register_claim(
        &self,
        request: Request<pb::RegisterClaimRequest>,
    ) -> Result<Response<pb::RegisterClaimResponse>, Status> {
        reply(Api::register_claim(self, request.into_inner()).await)
    }

    async fn get_claim(
        &self,
        request: Request<pb::GetClaimRequest>,
    ) -> Result<Response<pb::GetClaimResponse>, Status> {
        reply(Api::get_claim(self, request.into_inner()).await)
    }

    async fn approve_claim(
        &self,
        request: Request<pb::ApproveClaimRequest>,
    ) -> Result<Response<pb::ApproveClaimResponse>, Status> {
        reply(Api::approve_claim(self, request.into_inner()).await)
    }

    async fn reject_claim(
        &self,
        request: Request<pb::RejectClaimRequest>,
    ) -> Result<Response<pb::RejectClaimResponse>, Status> {
        reply(Api::reject_claim(self, request.into_inner()).await)
    }

    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let result = match wire::id("decision_id", &request.get_ref().decision_id) {
            Ok(decision_id) => self.decision(decision_id).await,
            Err(error) => Err(error),
        };
        reply(result.map(|decision| pb::GetDecisionResponse {
            decision: Some(decision),
        }))
    }

    async fn terminate_decision(
        &self,
        request: Request<pb::TerminateDecisionRequest>,
    ) -> Result<Response<pb::TerminateDecisionResponse>, Status> {
        reply(Api::terminate_decision(self, request.into_inner()).await)
    }

    async fn link_identifier(
        &self,
        request: Request<pb::LinkIdentifierRequest>,
    ) -> Result<Response<pb::LinkIdentifierResponse>, Status> {
        reply(Api::link_identifier(self, request.into_inner()).await)
    }

    async fn list_duplicate_holds(
        &self,
        request: Request<pb::ListDuplicateHoldsRequest>,
    ) -> Result<Response<pb::ListDuplicateHoldsResponse>, Status> {
        reply(Api::list_duplicate_holds(self, request.into_inner()).await)
    }

    async fn resolve_duplicate_hold(
        &self,
        request: Request<pb::ResolveDuplicateHoldRequest>,
    ) -> Result<Response<pb::ResolveDuplicateHoldResponse>, Status> {
        reply(Api::resolve_duplicate_hold(self, request.into_inner()).await)
    }

    async fn list_person_decisions(
        &self,
        request: Request<pb::ListPersonDecisionsRequest>,
    ) -> Result<Response<pb::ListPersonDecisionsResponse>, Status> {
        reply(self.person_decisions(request.into_inner()).await)
    }

    async fn get_rate_data(
        &self,
        request: Request<pb::GetRateDataRequest>,
    ) -> Result<Response<pb::GetRateDataResponse>, Status> {
        reply(self.rate_data(request.into_inner()).await)
    }

    async fn set_regional_minimum_wage(
        &self,
        request: Request<pb::SetRegionalMinimumWageRequest>,
    ) -> Result<Response<pb::SetRegionalMinimumWageResponse>, Status> {
        reply(self.set_minimum_wage(request.into_inner()).await)
    }

    async fn set_base_salary(
        &self,
        request: Request<pb::SetBaseSalaryRequest>,
    ) -> Result<Response<pb::SetBaseSalaryResponse>, Status> {
        reply(Api::set_base_salary(self, request.into_inner()).await)
    }

    async fn set_rate(
        &self,
        request: Request<pb::SetRateRequest>,
    ) -> Result<Response<pb::SetRateResponse>, Status> {
        reply(Api::set_rate(self, request.into_inner()).await)
    }

    async fn add_holiday(
        &self,
        request: Request<pb::AddHolidayRequest>,
    ) -> Result<Response<pb::AddHolidayResponse>, Status> {
        reply(Api::add_holiday(self, request.into_inner()).await)
    }

    async fn remove_holiday(
        &self,
        request: Request<pb::RemoveHolidayRequest>,
    ) -> Result<Response<pb::RemoveHolidayResponse>, Status> {
        reply(Api::remove_holiday(self, request.into_inner()).await)
    }

    async fn get_reserved_months(
        &self,
        request: Request<pb::GetReservedMonthsRequest>,
    ) -> Result<Response<pb::GetReservedMonthsResponse>, Status> {
        reply(self.reserved_months(request.into_inner()).await)
    }
}

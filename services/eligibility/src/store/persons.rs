//! People and their identifiers.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// A person as stored, with every linked identifier.
#[derive(Debug, Clone)]
pub struct StoredPerson {
    /// Opaque id.
    pub person_id: Uuid,
    /// Full name.
    pub full_name: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// `male` or `female`.
    pub sex: String,
    /// The 12-digit citizen id.
    pub citizen_id: String,
    /// Province of residence.
    pub province: String,
    /// Linked legacy ids.
    pub legacy_ids: Vec<String>,
    /// Linked social insurance numbers.
    pub social_insurance_numbers: Vec<String>,
}

#[derive(FromRow)]
struct PersonRow {
    person_id: Uuid,
    full_name: String,
    birth_date: NaiveDate,
    sex: String,
    citizen_id: String,
    province: String,
}

/// A person to register.
#[derive(Debug)]
pub struct NewPerson<'a> {
    /// Opaque id to give them.
    pub person_id: Uuid,
    /// Full name.
    pub full_name: &'a str,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// `male` or `female`.
    pub sex: &'static str,
    /// Citizen id.
    pub citizen_id: &'a str,
    /// Legacy id, when known.
    pub legacy_id: Option<&'a str>,
    /// Social insurance number.
    pub social_insurance_number: &'a str,
    /// Province of residence.
    pub province: &'a str,
    /// Registering officer.
    pub officer_id: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Inserts a person and their identifiers; false when the citizen id is already registered.
pub async fn insert(conn: &mut PgConnection, person: &NewPerson<'_>) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO persons (person_id, full_name, birth_date, sex, citizen_id, province, \
         registered_by, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (citizen_id) DO NOTHING",
    )
    .bind(person.person_id)
    .bind(person.full_name)
    .bind(person.birth_date)
    .bind(person.sex)
    .bind(person.citizen_id)
    .bind(person.province)
    .bind(person.officer_id)
    .bind(person.at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(false);
    }
    link(
        conn,
        person.person_id,
        "social_insurance_number",
        person.social_insurance_number,
        person.officer_id,
        person.at,
    )
    .await?;
    if let Some(legacy_id) = person.legacy_id {
        link(
            conn,
            person.person_id,
            "legacy_id",
            legacy_id,
            person.officer_id,
            person.at,
        )
        .await?;
    }
    Ok(true)
}

/// Links an identifier to a person; linking it twice changes nothing.
pub async fn link(
    conn: &mut PgConnection,
    person_id: Uuid,
    kind: &str,
    value: &str,
    officer_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO person_identifiers (person_id, kind, value, linked_by, linked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(person_id)
    .bind(kind)
    .bind(value)
    .bind(officer_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn with_identifiers(
    conn: &mut PgConnection,
    rows: Vec<PersonRow>,
) -> Result<Vec<StoredPerson>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.person_id).collect();
    let identifiers: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT person_id, kind, value FROM person_identifiers WHERE person_id = ANY($1) \
         ORDER BY linked_at, value",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let of_kind = |wanted: &str| {
                identifiers
                    .iter()
                    .filter(|(id, kind, _)| *id == row.person_id && kind == wanted)
                    .map(|(_, _, value)| value.clone())
                    .collect()
            };
            StoredPerson {
                legacy_ids: of_kind("legacy_id"),
                social_insurance_numbers: of_kind("social_insurance_number"),
                person_id: row.person_id,
                full_name: row.full_name,
                birth_date: row.birth_date,
                sex: row.sex,
                citizen_id: row.citizen_id,
                province: row.province,
            }
        })
        .collect())
}

/// The person with this id; `lock` holds the row until the transaction ends, which serializes
/// claims of one person.
pub async fn find(
    conn: &mut PgConnection,
    person_id: Uuid,
    lock: bool,
) -> Result<Option<StoredPerson>, StoreError> {
    let sql = if lock {
        "SELECT person_id, full_name, birth_date, sex, citizen_id, province FROM persons \
         WHERE person_id = $1 FOR UPDATE"
    } else {
        "SELECT person_id, full_name, birth_date, sex, citizen_id, province FROM persons \
         WHERE person_id = $1"
    };
    let row: Option<PersonRow> = sqlx::query_as(sql)
        .bind(person_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(with_identifiers(conn, vec![row]).await?.into_iter().next())
}

/// The person registered under this citizen id.
pub async fn find_by_citizen_id(
    conn: &mut PgConnection,
    citizen_id: &str,
) -> Result<Option<StoredPerson>, StoreError> {
    let row: Option<PersonRow> = sqlx::query_as(
        "SELECT person_id, full_name, birth_date, sex, citizen_id, province FROM persons \
         WHERE citizen_id = $1",
    )
    .bind(citizen_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(with_identifiers(conn, vec![row]).await?.into_iter().next())
}

/// Other people who share an identifier with `person`, or their name and birth date.
pub async fn possible_duplicates(
    conn: &mut PgConnection,
    person: &StoredPerson,
) -> Result<Vec<StoredPerson>, StoreError> {
    let rows: Vec<PersonRow> = sqlx::query_as(
        "SELECT DISTINCT p.person_id, p.full_name, p.birth_date, p.sex, p.citizen_id, p.province \
         FROM persons p \
         WHERE p.person_id <> $1 AND ( \
             (lower(p.full_name) = lower($2) AND p.birth_date = $3) \
             OR EXISTS (SELECT 1 FROM person_identifiers mine \
                        JOIN person_identifiers theirs \
                          ON theirs.kind = mine.kind AND theirs.value = mine.value \
                        WHERE mine.person_id = $1 AND theirs.person_id = p.person_id))",
    )
    .bind(person.person_id)
    .bind(&person.full_name)
    .bind(person.birth_date)
    .fetch_all(&mut *conn)
    .await?;
    with_identifiers(conn, rows).await
}

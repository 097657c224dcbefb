//! Card and account numbers at rest: sealed with the vault, opened only where a number must
//! leave the service (the decision event, an officer's view of the decision).

use sqlx::PgPool;
use uuid::Uuid;
use vault::Vault;

use super::StoreError;

/// Rows sealed per transaction when sealing numbers stored before they were sealed.
const SEAL_BATCH: i64 = 500;

/// The number's last four digits, kept in clear so officers can tell destinations apart.
pub fn last4(number: &str) -> String {
    number
        .char_indices()
        .rev()
        .nth(3)
        .map_or(number, |(start, _)| &number[start..])
        .to_owned()
}

/// The number inside a stored sealed value.
pub fn open(vault: &Vault, sealed: Option<&[u8]>) -> Result<String, StoreError> {
    let sealed = sealed.ok_or_else(|| {
        StoreError::corrupt(
            "destination number",
            "is not sealed yet; the service seals stored numbers when it starts",
        )
    })?;
    Ok(vault.open(sealed)?)
}

/// Seals every number a migration moved out of a clear-text column; returns how many.
///
/// Runs at start, before the service serves: the numbers are in clear only between the
/// migration and this pass.
pub async fn seal_unsealed(pool: &PgPool, vault: &Vault) -> Result<u64, StoreError> {
    let mut sealed = 0;
    for (table, key) in [("claims", "claim_id"), ("decisions", "decision_id")] {
        loop {
            let mut tx = pool.begin().await?;
            let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(&format!(
                "SELECT {key}, destination_unsealed FROM {table} \
                 WHERE destination_unsealed IS NOT NULL LIMIT $1 FOR UPDATE SKIP LOCKED"
            ))
            .bind(SEAL_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for (id, clear) in &rows {
                let number = String::from_utf8(clear.clone())
                    .map_err(|_| StoreError::corrupt("destination number", "is not UTF-8 text"))?;
                sqlx::query(&format!(
                    "UPDATE {table} SET destination_sealed = $2, destination_unsealed = NULL \
                     WHERE {key} = $1"
                ))
                .bind(id)
                .bind(vault.seal(&number)?)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            sealed += rows.len() as u64;
        }
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_four_digits_are_kept() {
        assert_eq!(last4("9704360000000001"), "0001");
        assert_eq!(last4("123"), "123");
    }
}

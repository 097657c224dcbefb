//! The list signing keys' life (registration, rotation, retirement) and the sealing of numbers
//! stored in clear before sealing existed. Private seeds are sealed before they are stored and
//! are never logged or returned.

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::{PgConnection, PgPool};
use vault::VaultError;

use crate::{
    domain::{KeyState, ListKey, signing},
    sealing::Sealer,
    store::{self, ClearTable, KeyRow, NewKey},
};

/// Why a key could not be used, created or retired.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database refused or is unreachable.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A seed or number could not be sealed or opened under the vault key.
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    /// The system's random source failed.
    #[error("no randomness available for a new key")]
    Random,
    /// No key has this id.
    #[error("signing key {0}")]
    NotFound(String),
    /// The key's state does not allow it.
    #[error("{0}")]
    Refused(String),
    /// A stored key no longer opens or parses; a fault of ours.
    #[error("stored signing key {0} is invalid")]
    Corrupt(String),
}

/// Registers the configured policy key, sealed, unless a policy key is already known (a
/// rotation must survive restarts); true when it was registered.
pub async fn register_first_policy_key(
    pool: &PgPool,
    sealer: &Sealer,
    key: &ListKey,
    now: DateTime<Utc>,
) -> Result<bool, KeyError> {
    let mut conn = pool.acquire().await?;
    let registered = store::insert_first_policy_key(
        &mut conn,
        &NewKey {
            key_id: key.key_id().to_owned(),
            officer_id: None,
            public_key: key.verifying_key().to_bytes().to_vec(),
            seed_sealed: sealer.seal_seed(&key.seed())?,
            created_at: now,
            created_by: None,
        },
    )
    .await?;
    Ok(registered)
}

/// The signer's active key (`officer_id` unset for the policy key), locked so no rotation or
/// retirement lands before the caller's transaction ends; `None` when the signer has none.
pub async fn active_key(
    conn: &mut PgConnection,
    sealer: &Sealer,
    officer_id: Option<&str>,
) -> Result<Option<ListKey>, KeyError> {
    let Some((key_id, sealed)) = store::active_key(conn, officer_id).await? else {
        return Ok(None);
    };
    let seed = sealer
        .open_seed(&sealed)
        .map_err(|_| KeyError::Corrupt(key_id.clone()))?;
    ListKey::from_seed(&key_id, &seed)
        .map(Some)
        .map_err(|_| KeyError::Corrupt(key_id))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    Ok(bytes)
}

/// Creates a new key for the signer (`officer_id` unset for the policy key); its previous key
/// stops signing but still verifies. `by` is the operator.
pub async fn rotate(
    conn: &mut PgConnection,
    sealer: &Sealer,
    officer_id: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<KeyRow, KeyError> {
    store::lock_keys(conn).await?;
    let seed: [u8; 32] = random_bytes()?;
    let suffix = hex::encode(random_bytes::<3>()?);
    let key_id = signing::new_key_id(officer_id, now.date_naive(), &suffix);
    let key = ListKey::from_seed(&key_id, &seed).map_err(|_| KeyError::Corrupt(key_id.clone()))?;
    let row = store::rotate_key(
        conn,
        &NewKey {
            key_id,
            officer_id: officer_id.map(str::to_owned),
            public_key: key.verifying_key().to_bytes().to_vec(),
            seed_sealed: sealer.seal_seed(&seed)?,
            created_at: now,
            created_by: Some(by.to_owned()),
        },
    )
    .await?;
    Ok(row)
}

/// Retires a key for good; retiring a retired key changes nothing. The active policy key is
/// refused: every policy approval needs it, so it is rotated away first.
pub async fn retire(
    conn: &mut PgConnection,
    key_id: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<KeyRow, KeyError> {
    store::lock_keys(conn).await?;
    let row = store::lock_key(conn, key_id)
        .await?
        .ok_or_else(|| KeyError::NotFound(key_id.to_owned()))?;
    match KeyState::parse(&row.state) {
        Some(KeyState::Retired) => return Ok(row),
        Some(KeyState::Active) if row.officer_id.is_none() => {
            return Err(KeyError::Refused(format!(
                "{key_id} is the active policy key; rotate it before retiring it"
            )));
        }
        Some(KeyState::Active | KeyState::VerifyOnly) => {}
        None => return Err(KeyError::Corrupt(key_id.to_owned())),
    }
    Ok(store::retire_key(conn, key_id, by, reason, now).await?)
}

/// Rows sealed per statement when sealing numbers stored in clear.
const SEAL_BATCH: i64 = 5_000;

/// Seals every number still stored in clear (rows written before numbers were sealed) and
/// clears it; returns how many rows were sealed. Safe to run again and from several instances:
/// a row sealed twice just gets a fresh nonce.
pub async fn seal_clear_numbers(pool: &PgPool, sealer: &Sealer) -> Result<u64, KeyError> {
    let mut sealed_rows = 0u64;
    let mut conn = pool.acquire().await?;
    for table in [ClearTable::Decisions, ClearTable::Entitlements] {
        loop {
            let rows = store::clear_numbers(&mut conn, table, SEAL_BATCH).await?;
            if rows.is_empty() {
                break;
            }
            let mut keys = Vec::with_capacity(rows.len());
            let mut sealed = Vec::with_capacity(rows.len());
            let mut digests = Vec::with_capacity(rows.len());
            for (key, number) in rows {
                let number = sealer.seal_number(&number)?;
                keys.push(key);
                sealed.push(number.sealed);
                digests.push(number.digest);
            }
            store::seal_numbers(&mut conn, table, &keys, &sealed, &digests).await?;
            sealed_rows += u64::try_from(keys.len()).unwrap_or_default();
        }
    }
    Ok(sealed_rows)
}

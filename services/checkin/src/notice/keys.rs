//! The notice signing keys: which public keys verify, which one signs, rotation and retirement.
//!
//! Only public halves are stored. The configured key (`notices.signing_key_seed`) is the
//! master: it signs until the first rotation, and every rotated key's private half is derived
//! from its secret and the new key's id ([`NoticeSigner::derive`]), so the secret stays where
//! it is today, in configuration, and every instance can sign with the newest key. Keys listed
//! in configuration by their public half are registered too and only verify.
//!
//! Scans verify against a ring cached in memory: reloaded at once after a rotation or a
//! retirement here, every few seconds for changes made by another instance, and early when a
//! token names a key the cache does not know yet.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clock::SharedClock;
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use serving::ApiError;
use sqlx::{PgConnection, PgPool};

use crate::domain::ids::KeyId;
use crate::domain::token::{KeyRing, NoticeSigner, Sealed, TokenRefusal};

/// How long a cached ring is trusted before it is read again: the longest another instance
/// may keep accepting a key retired here.
const REFRESH: Duration = Duration::from_secs(5);
/// A token under an unknown key id reloads the ring at most this often, so a key rotated on
/// another instance verifies at once without letting forged key ids drive database reads.
const UNKNOWN_KEY_RELOAD: Duration = Duration::from_secs(1);
/// Who registers the keys named in configuration.
const CONFIGURATION: &str = "configuration";

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// No such key.
    #[error("no signing key {0}")]
    NotFound(String),
    /// The key signs new notices and cannot be retired before a rotation.
    #[error("key {0} signs new notices; rotate the key before retiring it")]
    SignsNewNotices(String),
    /// No active key can sign: every key derived from the configured one is retired.
    #[error("no active signing key derives from the configured key; rotate the key")]
    NoActiveKey,
    /// Stored keys disagree with the configuration or with themselves.
    #[error("signing keys are inconsistent: {0}")]
    Inconsistent(String),
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Database(error) => error.into(),
            KeyError::NotFound(key_id) => Self::NotFound(format!("signing key {key_id}")),
            error @ KeyError::SignsNewNotices(_) => Self::Conflict(error.to_string()),
            error @ (KeyError::NoActiveKey | KeyError::Inconsistent(_)) => {
                Self::Internal(error.to_string())
            }
        }
    }
}

impl From<KeyError> for messaging::HandlerError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Database(error) => error.into(),
            // An operator's fix (a rotation, the right configuration) lets the notice be
            // issued; the activation waits for it rather than being dropped.
            other => Self::Transient(other.to_string()),
        }
    }
}

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    /// Its id, carried in tokens.
    pub key_id: String,
    /// Raw Ed25519 public key.
    pub public_key: Vec<u8>,
    /// When it was created or first registered.
    pub created_at: DateTime<Utc>,
    /// When it was retired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// What a key does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new notices, and verifies.
    Active,
    /// Verifies what it signed before.
    VerifyOnly,
    /// Refuses what it signed.
    Retired,
}

const KEY_COLUMNS: &str = "key_id, public_key, created_at, retired_at";

/// Registers the configured keys: the master, and the public keys configuration lists. A key
/// marked retired in configuration is retired; a retirement is never undone.
async fn register(
    conn: &mut PgConnection,
    master: &NoticeSigner,
    configured: &KeyRing,
    now: DateTime<Utc>,
) -> Result<(), KeyError> {
    // Older keys first, so the master is the newest of the configured keys.
    let mut keys: Vec<_> = configured.keys().collect();
    keys.sort_by_key(|(key_id, _, _)| *key_id == master.key_id());
    for (key_id, public_key, retired) in keys {
        let master_key_id = (key_id == master.key_id()).then(|| key_id.as_str());
        let stored: Vec<u8> = sqlx::query_scalar(
            "INSERT INTO signing_keys (key_id, public_key, master_key_id, created_at, created_by, \
             retired_at, retired_by, retire_reason) \
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN $4 END, CASE WHEN $6 THEN $5 END, \
             CASE WHEN $6 THEN 'retired in configuration' END) \
             ON CONFLICT (key_id) DO UPDATE SET \
             master_key_id = COALESCE(signing_keys.master_key_id, EXCLUDED.master_key_id), \
             retired_at = COALESCE(signing_keys.retired_at, EXCLUDED.retired_at), \
             retired_by = COALESCE(signing_keys.retired_by, EXCLUDED.retired_by), \
             retire_reason = COALESCE(signing_keys.retire_reason, EXCLUDED.retire_reason) \
             RETURNING public_key",
        )
        .bind(key_id.as_str())
        .bind(public_key.as_slice())
        .bind(master_key_id)
        .bind(now)
        .bind(CONFIGURATION)
        .bind(retired)
        .fetch_one(&mut *conn)
        .await?;
        if stored != public_key {
            return Err(KeyError::Inconsistent(format!(
                "configured key {key_id} differs from the stored key of that id"
            )));
        }
    }
    Ok(())
}

/// The key that signs new notices: the newest active key the configured master can produce.
async fn newest_signing_key(
    conn: &mut PgConnection,
    master: &NoticeSigner,
) -> Result<Option<StoredKey>, KeyError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys \
         WHERE master_key_id = $1 AND retired_at IS NULL ORDER BY position DESC LIMIT 1"
    ))
    .bind(master.key_id().as_str())
    .fetch_optional(&mut *conn)
    .await?)
}

/// The signer of `stored`, checked against its stored public half.
fn signer_of(
    master: &Arc<NoticeSigner>,
    stored: &StoredKey,
) -> Result<Arc<NoticeSigner>, KeyError> {
    let signer = if stored.key_id == master.key_id().as_str() {
        master.clone()
    } else {
        let key_id = KeyId::parse(&stored.key_id)
            .map_err(|error| KeyError::Inconsistent(format!("key {}: {error}", stored.key_id)))?;
        Arc::new(master.derive(key_id))
    };
    if signer.public_key().as_bytes().as_slice() != stored.public_key.as_slice() {
        return Err(KeyError::Inconsistent(format!(
            "key {} does not derive from the configured key",
            stored.key_id
        )));
    }
    Ok(signer)
}

/// The signer of new notices, for the decision consumer: registers the configured master if
/// this is its first use, then takes the newest active key it produces.
pub async fn issuing_signer(
    conn: &mut PgConnection,
    master: &Arc<NoticeSigner>,
    now: DateTime<Utc>,
) -> Result<Arc<NoticeSigner>, KeyError> {
    if newest_signing_key(conn, master).await?.is_none() {
        let mut ring = KeyRing::new();
        ring.insert(
            master.key_id().clone(),
            &master.public_key().to_bytes(),
            false,
        )
        .map_err(|error| KeyError::Inconsistent(error.to_string()))?;
        register(conn, master, &ring, now).await?;
    }
    let stored = newest_signing_key(conn, master)
        .await?
        .ok_or(KeyError::NoActiveKey)?;
    signer_of(master, &stored)
}

async fn all_keys(pool: &PgPool) -> Result<Vec<StoredKey>, KeyError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY position"
    ))
    .fetch_all(pool)
    .await?)
}

fn ring_of(keys: &[StoredKey]) -> Result<KeyRing, KeyError> {
    let mut ring = KeyRing::new();
    for key in keys {
        let corrupt =
            |reason: String| KeyError::Inconsistent(format!("key {}: {reason}", key.key_id));
        let key_id = KeyId::parse(&key.key_id).map_err(|error| corrupt(error.to_string()))?;
        let public_key: [u8; 32] = key
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("public key is not 32 bytes".into()))?;
        ring.insert(key_id, &public_key, key.retired_at.is_some())
            .map_err(|error| corrupt(error.to_string()))?;
    }
    Ok(ring)
}

#[derive(Clone)]
struct Cached {
    ring: Arc<KeyRing>,
    loaded: Instant,
}

/// The signing keys as the API sees them: the ring scans verify against, and the operations
/// that rotate, retire and list keys.
pub struct SigningKeys {
    pool: PgPool,
    clock: SharedClock,
    master: Arc<NoticeSigner>,
    configured: Arc<KeyRing>,
    registered: tokio::sync::OnceCell<()>,
    cache: RwLock<Option<Cached>>,
    reloading: tokio::sync::Mutex<()>,
}

impl SigningKeys {
    /// Keys over `pool`, with `master` the configured signing key and `configured` every key
    /// configuration names.
    pub fn new(
        pool: PgPool,
        clock: SharedClock,
        master: Arc<NoticeSigner>,
        configured: Arc<KeyRing>,
    ) -> Self {
        Self {
            pool,
            clock,
            master,
            configured,
            registered: tokio::sync::OnceCell::new(),
            cache: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    async fn ensure_registered(&self) -> Result<(), KeyError> {
        self.registered
            .get_or_try_init(|| async {
                let mut conn = self.pool.acquire().await?;
                register(&mut conn, &self.master, &self.configured, self.clock.now()).await
            })
            .await?;
        Ok(())
    }

    /// Registers the configured keys and loads the ring, once at start.
    pub async fn load(&self) -> Result<(), KeyError> {
        self.reload().await.map(|_| ())
    }

    fn cached(&self) -> Option<Cached> {
        match self.cache.read() {
            Ok(cache) => cache.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads every key again and replaces the cached ring.
    async fn reload(&self) -> Result<(Arc<KeyRing>, Vec<StoredKey>), KeyError> {
        self.ensure_registered().await?;
        let keys = all_keys(&self.pool).await?;
        let ring = Arc::new(ring_of(&keys)?);
        let fresh = Cached {
            ring: ring.clone(),
            loaded: Instant::now(),
        };
        match self.cache.write() {
            Ok(mut cache) => *cache = Some(fresh),
            Err(poisoned) => *poisoned.into_inner() = Some(fresh),
        }
        Ok((ring, keys))
    }

    /// The ring to verify with: the cached one while fresh; once stale, one caller reloads it
    /// while the others go on with the stale ring.
    async fn ring(&self) -> Result<Arc<KeyRing>, KeyError> {
        match self.cached() {
            Some(cached) if cached.loaded.elapsed() < REFRESH => Ok(cached.ring),
            Some(cached) => match self.reloading.try_lock() {
                Ok(_guard) => Ok(self.reload().await?.0),
                Err(_) => Ok(cached.ring),
            },
            None => {
                let _guard = self.reloading.lock().await;
                match self.cached() {
                    Some(cached) => Ok(cached.ring),
                    None => Ok(self.reload().await?.0),
                }
            }
        }
    }

    /// Checks a scanned token against the keys, all but its signature (see
    /// [`KeyRing::open`]); a token under a key id this instance does not know yet (rotated on
    /// another instance) is checked again against a fresh read.
    pub async fn open(&self, scanned: &str) -> Result<Result<Sealed, TokenRefusal>, KeyError> {
        let ring = self.ring().await?;
        match ring.open(scanned) {
            Err(TokenRefusal::UnknownKey) => {
                let stale = self
                    .cached()
                    .is_none_or(|cached| cached.loaded.elapsed() >= UNKNOWN_KEY_RELOAD);
                if stale && let Ok(_guard) = self.reloading.try_lock() {
                    let (ring, _) = self.reload().await?;
                    return Ok(ring.open(scanned));
                }
                Ok(Err(TokenRefusal::UnknownKey))
            }
            opened => Ok(opened),
        }
    }

    /// True when `key_id` is known and not retired, as of a fresh read.
    pub async fn is_active(&self, key_id: &str) -> Result<bool, KeyError> {
        let (ring, _) = self.reload().await?;
        Ok(KeyId::parse(key_id).is_ok_and(|key_id| ring.accepts(&key_id)))
    }

    /// The signer of new notices.
    pub async fn signer(&self) -> Result<Arc<NoticeSigner>, KeyError> {
        self.ensure_registered().await?;
        let mut conn = self.pool.acquire().await?;
        issuing_signer(&mut conn, &self.master, self.clock.now()).await
    }

    /// Every key with what it does now, oldest first.
    pub async fn list(&self) -> Result<Vec<(StoredKey, KeyState)>, KeyError> {
        let (_, keys) = self.reload().await?;
        let mut conn = self.pool.acquire().await?;
        let signing = newest_signing_key(&mut conn, &self.master)
            .await?
            .map(|key| key.key_id);
        Ok(keys
            .into_iter()
            .map(|key| {
                let state = if key.retired_at.is_some() {
                    KeyState::Retired
                } else if signing.as_deref() == Some(key.key_id.as_str()) {
                    KeyState::Active
                } else {
                    KeyState::VerifyOnly
                };
                (key, state)
            })
            .collect())
    }

    /// Creates a key derived from the configured one; from now on it signs new notices and
    /// the previous keys only verify.
    pub async fn rotate(&self, officer_id: &str) -> Result<StoredKey, KeyError> {
        self.ensure_registered().await?;
        let now = self.clock.now();
        for _ in 0..3 {
            let key_id = new_key_id(now)?;
            let signer = self.master.derive(key_id.clone());
            let created: Option<StoredKey> = sqlx::query_as(&format!(
                "INSERT INTO signing_keys (key_id, public_key, master_key_id, created_at, \
                 created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING \
                 RETURNING {KEY_COLUMNS}"
            ))
            .bind(key_id.as_str())
            .bind(signer.public_key().as_bytes().as_slice())
            .bind(self.master.key_id().as_str())
            .bind(now)
            .bind(officer_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(created) = created {
                self.reload().await?;
                tracing::info!(key_id = %key_id, officer_id, "notice signing key rotated");
                return Ok(created);
            }
        }
        Err(KeyError::Inconsistent(
            "three new key ids in a row were taken".into(),
        ))
    }

    /// Retires `key_id`: tokens it signed are refused from now on. Retiring a retired key
    /// changes nothing; the key that signs new notices must be rotated out first.
    pub async fn retire(
        &self,
        key_id: &str,
        reason: &str,
        officer_id: &str,
    ) -> Result<StoredKey, KeyError> {
        self.ensure_registered().await?;
        let mut tx = self.pool.begin().await?;
        // Rotations and retirements queue up, so the signing key cannot change underneath.
        sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let found: Option<StoredKey> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE key_id = $1"
        ))
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(found) = found else {
            return Err(KeyError::NotFound(key_id.to_owned()));
        };
        if found.retired_at.is_some() {
            return Ok(found);
        }
        let signing = newest_signing_key(&mut tx, &self.master).await?;
        if signing.is_some_and(|signing| signing.key_id == key_id) {
            return Err(KeyError::SignsNewNotices(key_id.to_owned()));
        }
        let retired: StoredKey = sqlx::query_as(&format!(
            "UPDATE signing_keys SET retired_at = $2, retired_by = $3, retire_reason = $4 \
             WHERE key_id = $1 RETURNING {KEY_COLUMNS}"
        ))
        .bind(key_id)
        .bind(self.clock.now())
        .bind(officer_id)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.reload().await?;
        tracing::warn!(key_id, officer_id, "notice signing key retired");
        Ok(retired)
    }
}

/// A fresh key id: the day of creation and 40 random bits, e.g. `n20260316-K7QX2MZA`.
fn new_key_id(now: DateTime<Utc>) -> Result<KeyId, KeyError> {
    let mut random = [0u8; 5];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let text = format!("n{}-{}", now.format("%Y%m%d"), BASE32_NOPAD.encode(&random));
    KeyId::parse(&text).map_err(|error| KeyError::Inconsistent(error.to_string()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_new_key_id_is_a_valid_key_id_naming_its_day() {
        let now = Utc.with_ymd_and_hms(2026, 3, 16, 3, 0, 0).unwrap();

        let first = new_key_id(now).unwrap();
        let second = new_key_id(now).unwrap();

        assert!(first.as_str().starts_with("n20260316-"), "{first}");
        assert_ne!(first, second);
    }

    #[test]
    fn a_stored_key_of_the_wrong_length_is_refused() {
        let key = StoredKey {
            key_id: "k1".into(),
            public_key: vec![0; 31],
            created_at: Utc::now(),
            retired_at: None,
        };

        assert!(matches!(
            ring_of(&[key]),
            Err(KeyError::Inconsistent(reason)) if reason.contains("k1")
        ));
    }
}

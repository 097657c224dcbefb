//! Each service owns one Postgres schema and reaches it through its own role. This crate
//! opens that pool, pinned to the service's schema, and applies migrations into it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use settings::{Secret, SettingsError};
use sqlx::{
    Connection, PgPool,
    migrate::{MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// How a service reaches its database, the `[database]` section of its configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database name.
    pub name: String,
    /// The service's own role.
    pub user: String,
    /// The role's password.
    pub password: Secret,
    /// The schema the service owns; also its `search_path`, so no query can wander.
    pub schema: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a free connection before failing a request.
    pub acquire_timeout_ms: u64,
}

impl DatabaseSettings {
    /// The local stack's settings for `service`: role, password and schema all named after it.
    pub fn local(service: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 54329,
            name: "benefit".into(),
            user: service.into(),
            password: Secret::new(service),
            schema: service.into(),
            max_connections: 16,
            acquire_timeout_ms: 5_000,
        }
    }

    /// Checks the values that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), SettingsError> {
        settings::validate_host("database.host", &self.host)?;
        if self.port == 0 {
            return Err(SettingsError::invalid("database.port", "must not be 0"));
        }
        if !is_identifier(&self.schema) {
            return Err(SettingsError::invalid(
                "database.schema",
                "must be a lowercase identifier (a-z, 0-9, _)",
            ));
        }
        if self.max_connections == 0 {
            return Err(SettingsError::invalid(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .database(&self.name)
            .username(&self.user)
            .password(self.password.expose())
            .application_name(&self.user)
            .options([("search_path", self.schema.as_str())])
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self::local("benefit")
    }
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// A pooled connection idle for longer than this is pinged before it is handed out; one in
/// steady use is not.
///
/// Pinging every acquire costs a round trip per request, which on a busy service is as much
/// as the request's own query. A connection in steady use has just proved itself: the pool
/// pings each one as it comes back, and one that broke since fails a single query and is
/// dropped when it returns. The ping stays for connections left idle, the ones a restarted
/// server or a forgetful firewall has most likely cut.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

/// Opens the service's pool; connects eagerly so a wrong password fails at start.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(settings.connect_options())
        .await?;
    tracing::info!(
        host = %settings.host,
        port = settings.port,
        database = %settings.name,
        role = %settings.user,
        schema = %settings.schema,
        "database pool ready"
    );
    Ok(pool)
}

/// Applies `migrators` in order into the pool's schema.
///
/// Several migrators share the schema's one history table (the shared messaging tables and
/// the service's own), so each ignores the versions the others applied; their version
/// ranges must not overlap.
pub async fn migrate(pool: &PgPool, migrators: &[&Migrator]) -> Result<(), MigrateError> {
    for migrator in migrators {
        let mut migrator = Migrator {
            migrations: migrator.migrations.clone(),
            ignore_missing: true,
            locking: migrator.locking,
            no_tx: migrator.no_tx,
        };
        migrator.set_ignore_missing(true);
        migrator.run(pool).await?;
    }
    tracing::info!("database migrations applied");
    Ok(())
}

/// Errors that go away by themselves: lost connections, exhausted pools, serialization
/// conflicts, deadlocks, lock and statement timeouts, a server shutting down.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(code.as_ref(), "40001" | "40P01" | "55P03" | "57014")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_that_could_inject_sql_is_refused() {
        let settings = DatabaseSettings {
            schema: "eligibility; drop table x".into(),
            ..DatabaseSettings::local("eligibility")
        };
        assert!(settings.validate().is_err());
    }

    #[test]
    fn local_settings_name_role_and_schema_after_the_service() {
        let settings = DatabaseSettings::local("payroll");
        assert_eq!(settings.user, "payroll");
        assert_eq!(settings.schema, "payroll");
        assert!(settings.validate().is_ok());
        assert!(format!("{settings:?}").contains("password: [REDACTED]"));
    }
}

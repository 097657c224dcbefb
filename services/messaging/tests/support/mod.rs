//! A handler with a visible effect, shared by the messaging tests.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::{PgConnection, PgPool};

/// The test payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Widget {
    /// What the effect records.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// Inserts one `effects` row per message it handles — with no unique key, so any second
/// application would show as a second row.
#[derive(Clone, Default)]
pub struct RecordEffect {
    /// Calls of `handle`, including failed attempts.
    pub attempts: Arc<AtomicU32>,
}

impl Handler for RecordEffect {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let widget: Widget = decode(message)?;
        // A short lock wait turns a locked table into a transient error quickly.
        sqlx::query("SET LOCAL lock_timeout = '200ms'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO effects (message_id, name) VALUES ($1, $2)")
            .bind(&message.message_id)
            .bind(&widget.name)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// Creates the `effects` table in the pool's schema.
pub async fn create_effects_table(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE TABLE effects (message_id TEXT NOT NULL, name TEXT NOT NULL)")
        .execute(pool)
        .await?;
    Ok(())
}

/// How many times the message named `name` took effect.
pub async fn effects_named(pool: &PgPool, name: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM effects WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?,
    )
}

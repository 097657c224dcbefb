//! The payroll gRPC API: parse the request, apply the domain, store, reply.

use clock::SharedClock;
use contracts::payroll::v1::payroll_service_server::PayrollService;
use sqlx::PgPool;

/// The PayrollService implementation.
///
/// Every RPC answers UNIMPLEMENTED until its issue lands (the generated trait's default);
/// the wiring around it — health, reflection, tracing, the database role — is live.
pub struct Api {
    #[allow(dead_code, reason = "used by the RPCs as they land")]
    pool: PgPool,
    #[allow(dead_code, reason = "used by the RPCs as they land")]
    clock: SharedClock,
}

impl Api {
    /// An API over the service's pool and clock.
    pub fn new(pool: PgPool, clock: SharedClock) -> Self {
        Self { pool, clock }
    }
}

#[tonic::async_trait]
impl PayrollService for Api {}

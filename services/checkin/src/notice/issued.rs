//! Notices as issued, read for printing, and re-signed when the key that signed them retires.

use sqlx::PgPool;
use uuid::Uuid;

use super::NoticeSheet;
use crate::domain::ids::DecisionId;
use crate::domain::token::NoticeSigner;
use crate::store::{self, StoreError};

/// A decision's notice with what its page prints.
#[derive(Debug, Clone)]
pub struct IssuedNotice {
    /// Notice id carried in the token.
    pub notice_id: Uuid,
    /// Key that signed the token.
    pub key_id: String,
    /// The page.
    pub sheet: NoticeSheet,
}

/// The notice of `decision_id`, when the decision has one.
pub async fn load(
    pool: &PgPool,
    decision_id: &DecisionId,
) -> Result<Option<IssuedNotice>, StoreError> {
    let Some(notice) = store::decision_notice(pool, decision_id.as_str()).await? else {
        return Ok(None);
    };
    let (decision_number, beneficiary_name): (String, String) = sqlx::query_as(
        "SELECT decision_number, beneficiary_name FROM decisions WHERE decision_id = $1",
    )
    .bind(decision_id.as_str())
    .fetch_one(pool)
    .await?;
    let view = store::decision_view(pool, decision_id.as_str())
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("notice of unknown decision {decision_id}")))?;
    Ok(Some(IssuedNotice {
        notice_id: notice.notice_id,
        key_id: notice.key_id,
        sheet: NoticeSheet {
            beneficiary_name,
            decision_number,
            windows: view.schedule.windows().to_vec(),
            token: notice.token,
            short_code: notice.short_code,
            expires_at: notice.expires_at,
        },
    }))
}

/// Signs `notice` again with `signer`: same notice id, decision and expiry, so its short code
/// and the check-ins already recorded against it stay valid, while the printout signed with
/// the retired key is refused. Returns the notice as stored afterwards, whoever re-signed it.
pub async fn resign(
    pool: &PgPool,
    decision_id: &DecisionId,
    notice: IssuedNotice,
    signer: &NoticeSigner,
) -> Result<IssuedNotice, StoreError> {
    let (payload, token) = signer.sign(
        notice.notice_id,
        decision_id.clone(),
        notice.sheet.expires_at,
    );
    // Only the notice still under its retired key is replaced; a concurrent print that
    // re-signed it first wins, and this one prints that.
    let replaced = sqlx::query(
        "UPDATE notices SET key_id = $3, token = $4 WHERE notice_id = $1 AND key_id = $2",
    )
    .bind(notice.notice_id)
    .bind(&notice.key_id)
    .bind(payload.key_id.as_str())
    .bind(&token)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !replaced {
        return load(pool, decision_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("notice of decision {decision_id} vanished"))
        });
    }
    tracing::info!(
        notice_id = %notice.notice_id,
        key_id = %payload.key_id,
        "notice re-signed after its key was retired"
    );
    Ok(IssuedNotice {
        key_id: payload.key_id.as_str().to_owned(),
        sheet: NoticeSheet {
            token,
            ..notice.sheet
        },
        ..notice
    })
}

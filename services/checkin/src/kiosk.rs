//! The kiosk page: a full-screen browser page for one kiosk, served on its own port, whose scans
//! go through the same `Scan` handler as the gRPC API's. The kiosk's credential lives in this
//! service's configuration and is attached here, so the browser never holds it.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use contracts::checkin::v1::checkin_service_server::CheckinService;
use contracts::checkin::v1::{ScanOutcome, ScanRequest, ScanResponse};
use serde::{Deserialize, Serialize};
use serving::{ServeError, Worker};
use settings::{Secret, SettingsError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;

use crate::grpc::{Api, KIOSK_CREDENTIAL_HEADER};

const PAGE: &str = include_str!("../assets/kiosk/index.html");
const SCRIPT: &str = include_str!("../assets/kiosk/kiosk.js");
const STYLE: &str = include_str!("../assets/kiosk/kiosk.css");

/// Longest scanned text accepted; a notice token is a few hundred characters.
const MAX_SCANNED_CHARS: usize = 2_048;
/// Longest request body; anything larger is not a scan.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest pause the page may be asked to hold an answer on screen.
const MAX_RESET_SECONDS: u32 = 120;
/// Replaced in the page by the configured reset delay.
const RESET_PLACEHOLDER: &str = "{{RESET_AFTER_MS}}";

/// The `[kiosk_page]` section: the page one kiosk's browser shows, and the kiosk it scans as.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct KioskPageSettings {
    /// Off unless set: an enabled page scans as its kiosk for anyone who can reach its port.
    pub enabled: bool,
    /// Interface to bind; only the kiosk's browser should be able to reach it.
    pub host: String,
    /// Port of the page; 0 picks a free one.
    pub port: u16,
    /// The kiosk this page scans as, checked against the credential when set.
    pub kiosk_id: String,
    /// The kiosk's credential from `RegisterKiosk`; attached by the server to every scan.
    pub credential: Secret,
    /// Seconds an answer stays on screen before the page waits for the next person.
    pub reset_after_seconds: u32,
}

impl Default for KioskPageSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 8052,
            kiosk_id: String::new(),
            credential: Secret::new(""),
            reset_after_seconds: 6,
        }
    }
}

/// The local stack's kiosk page credential (deploy/local/checkin.toml), published with the code.
const DEVELOPMENT_CREDENTIAL: &str = "LOCAL-KIOSK-PAGE-DEVELOPMENT-ONLY";

impl KioskPageSettings {
    /// True when the page would scan with the published development credential.
    pub fn has_development_credential(&self) -> bool {
        self.credential.expose().trim() == DEVELOPMENT_CREDENTIAL
    }

    /// Checks an enabled page's values; a disabled page's are ignored.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !self.enabled {
            return Ok(());
        }
        settings::validate_host("kiosk_page.host", &self.host)?;
        let credential = self.credential.expose().trim();
        if credential.is_empty() {
            return Err(SettingsError::invalid(
                "kiosk_page.credential",
                "is required when the kiosk page is enabled",
            ));
        }
        if MetadataValue::try_from(credential).is_err() {
            return Err(SettingsError::invalid(
                "kiosk_page.credential",
                "must be printable text",
            ));
        }
        if !self.kiosk_id.trim().is_empty() && uuid::Uuid::parse_str(self.kiosk_id.trim()).is_err()
        {
            return Err(SettingsError::invalid(
                "kiosk_page.kiosk_id",
                "must be a kiosk id from RegisterKiosk",
            ));
        }
        if !(1..=MAX_RESET_SECONDS).contains(&self.reset_after_seconds) {
            return Err(SettingsError::invalid(
                "kiosk_page.reset_after_seconds",
                format!("must be between 1 and {MAX_RESET_SECONDS}"),
            ));
        }
        Ok(())
    }
}

/// Binds the page's port at build, so a taken port stops the start rather than a later scan;
/// `None` when the page is disabled.
pub(crate) async fn bind(settings: &KioskPageSettings) -> Result<Option<TcpListener>, ServeError> {
    if !settings.enabled {
        return Ok(None);
    }
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind { address, source })?;
    Ok(Some(listener))
}

/// Serves the page on `listener` until stopped.
pub(crate) fn worker(listener: TcpListener, api: Arc<Api>, settings: &KioskPageSettings) -> Worker {
    let page = Page {
        api,
        credential: settings.credential.clone(),
        kiosk_id: settings.kiosk_id.trim().to_owned(),
        html: PAGE.replace(
            RESET_PLACEHOLDER,
            &(u64::from(settings.reset_after_seconds) * 1_000).to_string(),
        ),
    };
    serving::worker(move |stop| serve(listener, Arc::new(page), stop))
}

async fn serve(listener: TcpListener, page: Arc<Page>, stop: CancellationToken) {
    let address = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    tracing::info!(kiosk_page = %address, "serving the kiosk page");
    let app = Router::new()
        .route("/", get(page_html))
        .route("/kiosk", get(page_html))
        .route(
            "/kiosk/kiosk.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/kiosk/kiosk.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
        .route("/kiosk/scan", post(scan))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(page);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "kiosk page server failed");
    }
}

/// What the page's handlers share.
struct Page {
    api: Arc<Api>,
    credential: Secret,
    kiosk_id: String,
    html: String,
}

async fn page_html(State(page): State<Arc<Page>>) -> Response {
    with_page_headers(
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page.html.clone(),
        )
            .into_response(),
    )
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    with_page_headers(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// No caching (a kiosk must pick up a new page on reload), no framing, scripts only from here.
fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The body the page posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    scanned_text: String,
}

/// The answer the page shows: the outcome picks colour and icon, the messages are the service's.
#[derive(Debug, Serialize)]
struct ScreenAnswer {
    outcome: &'static str,
    message_vi: String,
    message_en: String,
}

/// Why a request was refused, for the page and for whoever calls the endpoint by hand.
#[derive(Debug, Serialize)]
struct Refusal {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    reason: String,
}

#[tracing::instrument(name = "kiosk page scan", skip_all)]
async fn scan(State(page): State<Arc<Page>>, headers: HeaderMap, body: Bytes) -> Response {
    let scanned_text = match parse_scan(&headers, &body) {
        Ok(text) => text,
        Err(refusal) => return json(StatusCode::BAD_REQUEST, &refusal),
    };
    let mut request = tonic::Request::new(ScanRequest {
        scanned_text,
        kiosk_id: page.kiosk_id.clone(),
    });
    // Checked at start by `validate`; a value that still fails is refused like a bad credential.
    if let Ok(value) = MetadataValue::try_from(page.credential.expose().trim()) {
        request
            .metadata_mut()
            .insert(KIOSK_CREDENTIAL_HEADER, value);
    }
    match CheckinService::scan(page.api.as_ref(), request).await {
        Ok(reply) => json(StatusCode::OK, &screen_answer(reply.into_inner())),
        Err(status) => {
            let (http, error) = match status.code() {
                tonic::Code::Unauthenticated => {
                    tracing::error!(
                        reason = status.message(),
                        "kiosk page credential refused; the page is out of service"
                    );
                    (StatusCode::SERVICE_UNAVAILABLE, "kiosk_not_authorised")
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            };
            let refusal = Refusal {
                error,
                field: None,
                reason: status.message().to_owned(),
            };
            json(http, &refusal)
        }
    }
}

/// The scanned text of a well-formed request, or why the request is not one.
fn parse_scan(headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
    let invalid = |field: Option<&'static str>, reason: String| Refusal {
        error: "invalid_argument",
        field,
        reason,
    };
    // Requiring JSON also makes a cross-site form post to this port fail the browser's checks.
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(invalid(
            None,
            "content-type must be application/json".into(),
        ));
    }
    let parsed: ScanBody = serde_json::from_slice(body).map_err(|error| {
        let field = error
            .to_string()
            .contains("scanned_text")
            .then_some("scanned_text");
        invalid(
            field,
            format!("body must be {{\"scanned_text\": \"...\"}}: {error}"),
        )
    })?;
    let text = parsed.scanned_text.trim();
    if text.is_empty() {
        return Err(invalid(Some("scanned_text"), "is empty".into()));
    }
    if text.chars().count() > MAX_SCANNED_CHARS {
        return Err(invalid(
            Some("scanned_text"),
            format!("must be at most {MAX_SCANNED_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn screen_answer(reply: ScanResponse) -> ScreenAnswer {
    let outcome = match reply.outcome() {
        ScanOutcome::Accepted => "accepted",
        ScanOutcome::AlreadyRecorded => "already_recorded",
        ScanOutcome::OutsideWindow => "outside_window",
        ScanOutcome::DecisionSuspended => "suspended",
        ScanOutcome::DecisionTerminated => "terminated",
        ScanOutcome::Invalid | ScanOutcome::Unspecified => "invalid",
    };
    ScreenAnswer {
        outcome,
        message_vi: reply.message_vi,
        message_en: reply.message_en,
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "kiosk answer not serialisable");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers
    }

    #[test]
    fn a_disabled_page_needs_no_credential_and_an_enabled_one_does() {
        let disabled = KioskPageSettings::default();
        assert!(disabled.validate().is_ok());
        let enabled = KioskPageSettings {
            enabled: true,
            ..KioskPageSettings::default()
        };
        let error = enabled.validate().err().map(|error| error.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|text| text.contains("kiosk_page.credential")),
            "{error:?}"
        );
    }

    #[test]
    fn a_reset_delay_outside_the_allowed_range_is_refused() {
        let settings = KioskPageSettings {
            enabled: true,
            credential: Secret::new("ABC"),
            reset_after_seconds: 0,
            ..KioskPageSettings::default()
        };
        assert!(settings.validate().is_err());
        let settings = KioskPageSettings {
            reset_after_seconds: 6,
            ..settings
        };
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn the_page_carries_the_reset_delay_and_no_placeholder() {
        let html = PAGE.replace(RESET_PLACEHOLDER, "6000");
        assert!(html.contains("data-reset-after-ms=\"6000\""));
        assert!(!html.contains("{{"));
    }

    #[test]
    fn a_body_that_is_not_a_scan_is_refused_with_the_field_and_reason() {
        let headers = json_headers();
        let cases: [(&[u8], Option<&str>); 5] = [
            (b"not json", None),
            (b"{}", Some("scanned_text")),
            (b"{\"scanned_text\": 7}", None),
            (b"{\"scanned_text\": \"   \"}", Some("scanned_text")),
            (b"{\"scanned_text\": \"x\", \"credential\": \"y\"}", None),
        ];
        for (body, field) in cases {
            let refusal = parse_scan(&headers, body).err();
            assert!(refusal.is_some(), "{:?}", String::from_utf8_lossy(body));
            if let (Some(refusal), Some(field)) = (refusal, field) {
                assert_eq!(refusal.field, Some(field));
            }
        }
        let long = format!(
            "{{\"scanned_text\": \"{}\"}}",
            "A".repeat(MAX_SCANNED_CHARS + 1)
        );
        assert!(parse_scan(&headers, long.as_bytes()).is_err());
        assert_eq!(
            parse_scan(&headers, b"{\"scanned_text\": \" CODE \"}").ok(),
            Some("CODE".to_owned())
        );
        assert!(parse_scan(&HeaderMap::new(), b"{\"scanned_text\": \"CODE\"}").is_err());
    }
}

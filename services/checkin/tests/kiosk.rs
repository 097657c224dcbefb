//! The kiosk page against the running service: a real headless Chromium, driven over WebDriver,
//! scans as a keyboard-wedge scanner would; the page's endpoint refuses what is not a scan.

mod support;

use std::{
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use checkin::domain::answer;
use checkin::domain::token::TokenRefusal;
use checkin::domain::window::BenefitMonth;
use chrono::NaiveDate;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Bytes, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::{Harness, morning_of};
use uuid::Uuid;

/// Longest wait for one HTTP exchange, with the service or with the WebDriver.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a whole test may take, so a stuck browser fails the test instead of hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(200);
/// Seconds the page shows an answer in these tests.
const RESET_AFTER_SECONDS: u32 = 2;

#[tokio::test]
async fn a_scanner_at_the_kiosk_page_sees_accepted_invalid_and_already_recorded_screens()
-> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, scanner_session()).await?
}

async fn scanner_session() -> anyhow::Result<()> {
    let kiosk = KioskPage::start().await?;
    let mut forged = kiosk.token.clone();
    let signature_start = forged
        .rfind('.')
        .ok_or_else(|| anyhow::anyhow!("a token has a signature part"))?
        + 1;
    let first = &forged[signature_start..signature_start + 1];
    let swapped = if first == "A" { "B" } else { "A" };
    forged.replace_range(signature_start..signature_start + 1, swapped);
    let browser = Browser::start().await?;
    browser.open(&format!("http://{}/", kiosk.page)).await?;
    browser.wait_for_screen("idle").await?;
    let html = browser
        .script("return document.documentElement.outerHTML")
        .await?;
    assert!(
        !html.to_string().contains(&kiosk.credential),
        "the page must not carry the kiosk credential"
    );
    // Whatever took the focus away, the page takes it back before the next scan arrives.
    browser
        .script("document.activeElement.blur(); document.body.focus(); return null")
        .await?;
    browser.wait_for_focus_on_scan_input().await?;

    browser.scan(&kiosk.token).await?;
    let accepted = browser.wait_for_answer().await?;
    let month_1 = BenefitMonth::new(1)?;
    // Month 1 starts Mon 16 Mar; 5 working days from Sun 22 Mar count from Mon 23: 23..27.
    let payment_by = NaiveDate::from_ymd_opt(2026, 3, 27)
        .ok_or_else(|| anyhow::anyhow!("27 March 2026 is a date"))?;
    let expected = answer::accepted_text(month_1, payment_by);
    assert_eq!(accepted.outcome, "accepted");
    assert_eq!(accepted.vi, expected.vi);
    assert_eq!(accepted.en, expected.en);
    assert!(accepted.vi.contains("tháng thứ 1"), "{}", accepted.vi);
    assert!(!accepted.icon.is_empty());
    // The answer stays for the configured pause, then the page waits for the next person.
    browser.wait_for_screen("idle").await?;

    browser.scan(&forged).await?;
    let invalid = browser.wait_for_answer().await?;
    let expected = answer::invalid_text(TokenRefusal::BadSignature);
    assert_eq!(invalid.outcome, "invalid");
    assert_eq!(invalid.vi, expected.vi);
    assert_eq!(invalid.en, expected.en);
    assert_ne!(invalid.icon, accepted.icon);
    browser.wait_for_screen("idle").await?;

    browser.scan(&kiosk.token).await?;
    let repeat = browser.wait_for_answer().await?;
    let expected = answer::already_recorded_text(month_1, payment_by);
    assert_eq!(repeat.outcome, "already_recorded");
    assert_eq!(repeat.vi, expected.vi);
    assert_eq!(repeat.en, expected.en);
    assert_ne!(repeat.icon, accepted.icon);
    browser.wait_for_screen("idle").await?;
    browser.close().await?;

    assert_eq!(kiosk.harness.checkin_count().await?, 1);
    let events = kiosk.harness.checkin_events(2).await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].decision_id, "decision-1");
    kiosk.harness.stop().await
}

#[tokio::test]
async fn a_post_that_is_not_a_scan_gets_a_clear_400_and_nothing_is_recorded() -> anyhow::Result<()>
{
    let kiosk = KioskPage::start().await?;
    let json_type = Some("application/json");
    let cases = [
        ("not json", json_type, "not json", None),
        ("no scanned_text", json_type, "{}", Some("scanned_text")),
        (
            "blank scanned_text",
            json_type,
            r#"{"scanned_text": "  "}"#,
            Some("scanned_text"),
        ),
        (
            "a credential smuggled in the body",
            json_type,
            r#"{"scanned_text": "x", "credential": "y"}"#,
            None,
        ),
        (
            "no content type",
            None,
            &*format!(r#"{{"scanned_text": "{}"}}"#, kiosk.token),
            None,
        ),
    ];

    for (case, content_type, body, field) in cases {
        let (status, reply) =
            http(kiosk.page, Method::POST, "/kiosk/scan", content_type, body).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {reply}");
        let reply: Value = serde_json::from_str(&reply)?;
        assert_eq!(reply["error"], "invalid_argument", "{case}: {reply}");
        assert!(
            reply["reason"]
                .as_str()
                .is_some_and(|reason| !reason.is_empty()),
            "{case}: {reply}"
        );
        if let Some(field) = field {
            assert_eq!(reply["field"], field, "{case}: {reply}");
        }
    }

    assert_eq!(kiosk.harness.checkin_count().await?, 0);
    assert_eq!(kiosk.harness.outbox_count().await?, 0);
    let body = format!(r#"{{"scanned_text": "{}"}}"#, kiosk.token);
    let (status, reply) = http(kiosk.page, Method::POST, "/kiosk/scan", json_type, &body).await?;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let reply: Value = serde_json::from_str(&reply)?;
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    assert_eq!(kiosk.harness.checkin_count().await?, 1);
    kiosk.harness.stop().await
}

#[tokio::test]
async fn a_page_configured_with_an_unknown_credential_is_out_of_service_and_records_nothing()
-> anyhow::Result<()> {
    let mut kiosk = KioskPage::start().await?;
    kiosk.harness.config.kiosk_page.credential = settings::Secret::new("NOT-A-KIOSK-CREDENTIAL");
    kiosk.harness.restart().await?;

    let body = format!(r#"{{"scanned_text": "{}"}}"#, kiosk.token);
    let (status, reply) = http(
        kiosk.page,
        Method::POST,
        "/kiosk/scan",
        Some("application/json"),
        &body,
    )
    .await?;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    let reply: Value = serde_json::from_str(&reply)?;
    assert_eq!(reply["error"], "kiosk_not_authorised", "{reply}");
    assert_eq!(kiosk.harness.checkin_count().await?, 0);
    assert_eq!(kiosk.harness.outbox_count().await?, 0);
    kiosk.harness.stop().await
}

#[tokio::test]
async fn the_page_is_served_with_its_reset_delay_and_without_the_credential() -> anyhow::Result<()>
{
    let kiosk = KioskPage::start().await?;

    let (status, page) = http(kiosk.page, Method::GET, "/", None, "").await?;
    let (script_status, script) =
        http(kiosk.page, Method::GET, "/kiosk/kiosk.js", None, "").await?;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(script_status, StatusCode::OK);
    let reset_ms = u64::from(RESET_AFTER_SECONDS) * 1_000;
    assert!(page.contains(&format!("data-reset-after-ms=\"{reset_ms}\"")));
    assert!(page.contains("id=\"scan\""));
    assert!(!page.contains(&kiosk.credential) && !script.contains(&kiosk.credential));
    kiosk.harness.stop().await
}

/// A running service with one registered kiosk, one activated decision and the kiosk page
/// enabled for that kiosk.
struct KioskPage {
    harness: Harness,
    credential: String,
    token: String,
    page: SocketAddr,
}

impl KioskPage {
    async fn start() -> anyhow::Result<Self> {
        let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
        let (kiosk_id, credential) = harness.register_kiosk().await?;
        let token = harness.activate("decision-1").await?;
        let page = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let settings = &mut harness.config.kiosk_page;
        settings.enabled = true;
        settings.host = page.ip().to_string();
        settings.port = page.port();
        settings.kiosk_id = kiosk_id;
        settings.credential = settings::Secret::new(credential.clone());
        settings.reset_after_seconds = RESET_AFTER_SECONDS;
        // The page is configured with a credential that exists only once the service has run.
        harness.restart().await?;
        Ok(Self {
            harness,
            credential,
            token,
            page,
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One HTTP/1.1 exchange with `address`; the status and the body as text.
async fn http(
    address: SocketAddr,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driving = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, address.to_string());
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body.to_owned())))?)
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        driving.abort();
        anyhow::Ok((status, String::from_utf8(bytes.to_vec())?))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange).await?
}

/// What the page shows.
#[derive(Debug)]
struct Screen {
    outcome: String,
    icon: String,
    vi: String,
    en: String,
}

/// A headless Chromium behind its own chromedriver, with a fresh profile; both end on drop.
struct Browser {
    driver: Child,
    address: SocketAddr,
    session: String,
    profile: PathBuf,
}

impl Browser {
    async fn start() -> anyhow::Result<Self> {
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let profile = std::env::temp_dir().join(format!("kiosk-page-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&profile)?;
        // Its own process group, so the browser it starts is ended with it even on a failure.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={}", address.port()))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| anyhow::anyhow!("chromedriver could not start: {error}"))?;
        let mut browser = Self {
            driver,
            address,
            session: String::new(),
            profile,
        };
        browser.wait_until_ready().await?;
        let arguments = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ]
        .iter()
        .map(|argument| (*argument).to_owned())
        .chain([format!("--user-data-dir={}", browser.profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "args": arguments },
                    "timeouts": { "pageLoad": 20_000, "script": 10_000 }
                }
            }
        });
        let created = browser
            .command(Method::POST, "/session", capabilities)
            .await?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no session id in {created}"))?
            .to_owned();
        Ok(browser)
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((StatusCode::OK, body)) =
                http(self.address, Method::GET, "/status", None, "").await
                && body.contains("\"ready\":true")
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "chromedriver not ready after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a WebDriver command; its `value`, or the driver's error.
    async fn command(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, reply) = http(
            self.address,
            method,
            path,
            Some("application/json"),
            &body.to_string(),
        )
        .await?;
        let reply: Value = serde_json::from_str(&reply)?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "webdriver {path}: {status} {reply}"
        );
        Ok(reply["value"].clone())
    }

    async fn session_command(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let path = format!("/session/{}{path}", self.session);
        self.command(Method::POST, &path, body).await
    }

    async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.session_command("/url", json!({ "url": url })).await?;
        Ok(())
    }

    async fn script(&self, script: &str) -> anyhow::Result<Value> {
        self.session_command("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Types `text` and Enter into whatever has the focus, key by key, as a wedge scanner does.
    async fn scan(&self, text: &str) -> anyhow::Result<()> {
        let mut keys = Vec::new();
        for key in text
            .chars()
            .map(String::from)
            .chain(["\u{E007}".to_owned()])
        {
            keys.push(json!({ "type": "keyDown", "value": key }));
            keys.push(json!({ "type": "keyUp", "value": key }));
        }
        let actions = json!({
            "actions": [{ "type": "key", "id": "scanner", "actions": keys }]
        });
        self.session_command("/actions", actions).await?;
        Ok(())
    }

    async fn screen(&self) -> anyhow::Result<Screen> {
        let shown = self
            .script(
                "const text = (id) => document.getElementById(id).textContent;
                 return {
                   outcome: document.getElementById('screen').dataset.outcome,
                   icon: text('icon'), vi: text('message-vi'), en: text('message-en')
                 };",
            )
            .await?;
        let field = |name: &str| shown[name].as_str().unwrap_or_default().to_owned();
        Ok(Screen {
            outcome: field("outcome"),
            icon: field("icon"),
            vi: field("vi"),
            en: field("en"),
        })
    }

    /// The first answer shown after a scan: anything but the idle and checking screens.
    async fn wait_for_answer(&self) -> anyhow::Result<Screen> {
        self.wait_for(|screen| screen.outcome != "idle" && screen.outcome != "working")
            .await
    }

    async fn wait_for_screen(&self, outcome: &str) -> anyhow::Result<Screen> {
        self.wait_for(|screen| screen.outcome == outcome).await
    }

    async fn wait_for(&self, wanted: impl Fn(&Screen) -> bool) -> anyhow::Result<Screen> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen().await?;
            if wanted(&screen) {
                return Ok(screen);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the page still shows {screen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_focus_on_scan_input(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let focused = self.script("return document.activeElement.id").await?;
            if focused == "scan" {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the scan input did not regain the focus: {focused}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn close(&self) -> anyhow::Result<()> {
        let path = format!("/session/{}", self.session);
        self.command(Method::DELETE, &path, json!({})).await?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

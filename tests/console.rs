//! The web console in a real browser: headless Chromium (Debian `chromium`)
//! driven over WebDriver (Debian `chromium-driver`) against `hotline serve`.
//! A supervisor logs in, watches a critical ticket arrive on the board
//! without a reload, plays its recording, reassigns it; a duty lawyer
//! acknowledges an offer from the browser and is refused another lawyer's
//! ticket; the report prints to a PDF whose charts are drawn. Screenshots
//! go to `target/console-screenshots/`.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{stderr, stdout, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// chromedriver on a free port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    common::require("chromium", "chromium");
    common::require("chromedriver", "chromium-driver");
    let port = common::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        child,
        port,
        profile: tempfile::tempdir().unwrap(),
    }
}

/// A fresh headless Chromium. The flags keep it off the network (this
/// machine has none beyond the registries) and out of the sandbox (root).
async fn browser(driver: &Driver) -> Client {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", driver.profile.path().display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// A lawyer of center `default`, on duty for the next 8 hours.
fn on_duty(server: &Server, id: &str, name: &str) {
    ok(server.client(&[
        "roster",
        "add-lawyer",
        "--id",
        id,
        "--name",
        name,
        "--phone",
        "13900000000",
        "--skills",
        "labor-wages",
    ]));
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    ok(server.client(&[
        "roster",
        "add-shift",
        "--lawyer",
        id,
        "--from",
        &from,
        "--to",
        &to,
    ]));
}

/// A critical ticket created over gRPC (the CLI is a gRPC client).
fn critical(server: &Server) -> String {
    let out = ok(server.client(&[
        "tickets",
        "create",
        "--matter",
        "labor-wages",
        "--preservation",
        "--callback",
        "13812345678",
        "--summary",
        "欠薪三个月，老板要转移设备",
        "--json",
    ]));
    let t: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(t["urgency"], "critical");
    t["number"].as_str().unwrap().to_owned()
}

/// One second of a 440 Hz tone, as the IVR records messages.
fn message_wav() -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for i in 0..8000 {
        let v = (f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0;
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
    cursor.into_inner()
}

/// Uploads a recording to `number` as the IVR node does.
async fn upload_recording(server: &Server, dir: &std::path::Path, number: &str) {
    let token = common::read_token(&dir.join("hotline-data/ivr.token")).expect("ivr.token");
    let channel = common::authed_channel(&server.url(), Some(&token)).await;
    let audio = message_wav();
    TicketServiceClient::new(channel)
        .upload_recording(tokio_stream::iter(vec![pb::RecordingChunk {
            ticket_number: number.to_owned(),
            idempotency_key: format!("console-test-{number}"),
            content_type: "audio/wav".to_owned(),
            duration_ms: 1000,
            data: audio,
        }]))
        .await
        .expect("upload the recording");
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("console-screenshots"))
        .unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(name), png).unwrap();
}

async fn login(c: &Client, web: &str, token: &str) {
    c.goto(&format!("{web}/login")).await.unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("who")).await.unwrap();
}

/// Waits up to `limit` for `css` to match; the time it took.
async fn appears(c: &Client, css: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if c.find(Locator::Css(css)).await.is_ok() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Clicks `css`; again if the live region was replaced under the click.
async fn click(c: &Client, css: &str) {
    let mut last = None;
    for _ in 0..20 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.click().await {
                Ok(()) => return,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot click {css}: {last:?}");
}

/// Types `text` into `css`; again if the live region was replaced first.
async fn type_into(c: &Client, css: &str, text: &str) {
    let mut last = None;
    for _ in 0..20 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.send_keys(text).await {
                Ok(()) => return,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot type into {css}: {last:?}");
}

/// The text of `css`; read again if the live region was replaced while
/// reading it.
async fn text_of(c: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..20 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.text().await {
                Ok(text) => return text,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot read {css}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_and_a_lawyer_work_a_critical_ticket_in_the_browser() {
    let driver = chromedriver();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let web = format!("http://{}", server.web.expect("web= in the listening line"));
    on_duty(&server, "li", "李律师");
    on_duty(&server, "wang", "王律师");
    let supervisor = ok(server.client(&[
        "token",
        "create",
        "--role",
        "supervisor",
        "--name",
        "chen",
        "--center",
        "default",
    ]))
    .trim()
    .to_owned();

    let c = browser(&driver).await;
    login(&c, &web, &supervisor).await;
    assert!(c.current_url().await.unwrap().path() == "/");
    // The live stream is open before the ticket is created; a mark on the
    // page shows it was never reloaded.
    appears(&c, "body[data-stream=open]", Duration::from_secs(10))
        .await
        .expect("the board's event stream opens");
    c.execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();

    let a = critical(&server);
    let took = appears(
        &c,
        &format!("#offers tr[data-ticket='{a}']"),
        Duration::from_secs(2),
    )
    .await;
    if took.is_none() {
        screenshot(&c, "board-failed.png").await;
        let body = text_of(&c, "body").await;
        let data = c
            .execute("return JSON.stringify(document.body.dataset);", vec![])
            .await
            .unwrap();
        panic!("ticket {a} did not appear on the board within 2 s; {data}; page:\n{body}");
    }
    let kept = c
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(true), "the board reloaded instead of updating");
    screenshot(&c, "board.png").await;

    // Open it: the recording plays in the browser.
    upload_recording(&server, dir.path(), &a).await;
    click(&c, &format!("#offers a[href='/tickets/{a}']")).await;
    c.wait()
        .for_element(Locator::Css("audio[data-recording]"))
        .await
        .unwrap();
    let mut duration = json!(null);
    for _ in 0..100 {
        duration = c
            .execute(
                "const a = document.querySelector('audio'); return isFinite(a.duration) ? a.duration : null;",
                vec![],
            )
            .await
            .unwrap();
        if duration.is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = duration
        .as_f64()
        .expect("the audio element reports a duration");
    assert!((seconds - 1.0).abs() < 0.05, "duration {seconds}");

    // Li takes it (from the command line); the supervisor gives it to Wang.
    ok(server.as_lawyer("li", &["lawyer", "ack", &a, "--lawyer", "li"]));
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Id("reassign")).await.unwrap();
    c.execute(
        "const s = document.getElementById('reassign-lawyer'); s.value = 'wang'; \
         s.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![],
    )
    .await
    .unwrap();
    type_into(
        &c,
        "form[action$='/reassign'] input[name=reason]",
        "李律师今晚另有急案",
    )
    .await;
    c.find(Locator::Id("reassign"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#history li[data-kind=reassigned]"))
        .await
        .unwrap();
    assert!(text_of(&c, "#history").await.contains("李律师今晚另有急案"));
    assert!(text_of(&c, "#fields").await.contains("wang"));
    // 重点督办: marked from the ticket page, listed on the board.
    type_into(
        &c,
        "form[action$='/major'] input[name=reason]",
        "涉及群体性欠薪",
    )
    .await;
    click(&c, "#mark-major").await;
    c.wait().for_element(Locator::Id("major")).await.unwrap();
    screenshot(&c, "ticket.png").await;
    c.goto(&format!("{web}/")).await.unwrap();
    c.wait()
        .for_element(Locator::Css(&format!("#major-cases tr[data-ticket='{a}']")))
        .await
        .unwrap();

    // The report prints to a PDF with its charts drawn.
    let today = Utc::now()
        .with_timezone(&hotline_domain::shanghai())
        .date_naive();
    c.goto(&format!(
        "{web}/reports/report.html?from={today}&to={today}"
    ))
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Css("figure.chart svg rect"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "td[data-figure=tickets]").await, "1");
    screenshot(&c, "report.png").await;
    let pdf = c.print(Default::default()).await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let pdf_file = screenshots().join("report.pdf");
    std::fs::write(&pdf_file, &pdf).unwrap();
    assert!(
        bars_in_pdf(&pdf_file) > 50,
        "the PDF's first page shows no chart bars"
    );

    // A duty lawyer: the next critical ticket is offered to Li (Wang now
    // holds one), who acknowledges it from the browser.
    c.delete_all_cookies().await.unwrap();
    login(&c, &web, &server.lawyer_token("li")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/my");
    appears(&c, "body[data-stream=open]", Duration::from_secs(10))
        .await
        .expect("the lawyer's event stream opens");
    let b = critical(&server);
    let offer = format!("#my-offers div[data-ticket='{b}'] button.ack");
    appears(&c, &offer, Duration::from_secs(5))
        .await
        .expect("the offer arrives without a reload");
    screenshot(&c, "lawyer.png").await;
    click(&c, &offer).await;
    c.wait()
        .for_element(Locator::Css("#history li[data-kind=offer_acknowledged]"))
        .await
        .unwrap();
    let history = ok(server.client(&["tickets", "history", &b, "--json"]));
    assert!(history.contains("offer_acknowledged"), "{history}");
    let shown = ok(server.client(&["tickets", "show", &b, "--json"]));
    assert!(shown.contains("\"assigned_lawyer\":\"li\""), "{shown}");
    // The ticket moved from the offers to Li's cases.
    c.goto(&format!("{web}/my")).await.unwrap();
    c.wait()
        .for_element(Locator::Css(&format!("#my-cases tr[data-ticket='{b}']")))
        .await
        .unwrap();
    assert!(c
        .find(Locator::Css(&format!("#my-offers div[data-ticket='{b}']")))
        .await
        .is_err());
    // Its caller waits for Li's call back: the number to call in full, and
    // a form for what came of the attempt.
    let row = format!("#my-callbacks tr[data-ticket='{b}']");
    let phone = text_of(&c, &format!("{row} td.phone")).await;
    assert_eq!(phone, "13812345678", "the callback number in full");
    type_into(&c, &format!("{row} input[name=note]"), "no voicemail").await;
    c.execute(
        &format!("document.querySelector(\"{row} select[name=outcome]\").value = 'no-answer';"),
        vec![],
    )
    .await
    .unwrap();
    click(&c, &format!("{row} button[type=submit]")).await;
    // The page comes back with one attempt counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while text_of(&c, &format!("{row} td.n")).await != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "the attempt was not counted on the page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let due = ok(server.client(&["callbacks", "due", "--all", "--json"]));
    assert!(
        due.contains("\"outcome\":\"no-answer\"") && due.contains("no voicemail"),
        "{due}"
    );
    assert!(due.contains("\"actor\":\"lawyer:li\""), "{due}");

    // Wang's ticket is not Li's to see: 403, for the page and its audio.
    c.goto(&format!("{web}/tickets/{a}")).await.unwrap();
    assert!(text_of(&c, "h1").await.starts_with("403"));
    let status = |path: String| {
        let c = c.clone();
        async move {
            c.execute(
                &format!("return fetch('{path}').then(r => r.status);"),
                vec![],
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(status(format!("/tickets/{a}")).await, json!(403));
    assert_eq!(
        status("/".to_owned()).await,
        json!(200),
        "a lawyer's home is /my"
    );
    assert_eq!(status("/stats".to_owned()).await, json!(403));
    // A change without the session's CSRF secret is refused.
    let forged = c
        .execute(
            &format!(
                "return fetch('/tickets/{b}/note', {{method: 'POST', \
                 body: new URLSearchParams({{csrf: 'forged', text: 'x'}})}}).then(r => r.status);"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(forged, json!(403));
    let notes = ok(server.client(&["tickets", "history", &b, "--json"]));
    assert!(!notes.contains("\"kind\":\"note\""), "{notes}");

    // An admin imports a roster row from the console.
    c.delete_all_cookies().await.unwrap();
    login(&c, &web, server.admin_token.as_deref().unwrap()).await;
    c.goto(&format!("{web}/roster")).await.unwrap();
    let tomorrow =
        (Utc::now() + chrono::Duration::days(1)).with_timezone(&hotline_domain::shanghai());
    let (from, to) = (
        tomorrow.format("%Y-%m-%dT08:00").to_string(),
        tomorrow.format("%Y-%m-%dT20:00").to_string(),
    );
    let csv = format!(
        "id,name,phone,sip_uri,skills,regions,languages,capacity,center,shift_from,shift_to\n\
         zhao,赵律师,13900000001,,family;labor-wages,,zh,4,default,{from},{to}\n"
    );
    type_into(&c, "#import textarea[name=csv]", &csv).await;
    click(&c, "#import-roster").await;
    let mut shown = String::new();
    for _ in 0..50 {
        shown = text_of(&c, "#lawyers").await;
        if shown.contains("赵律师") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown.contains("赵律师"), "{shown}");
    assert!(text_of(&c, "#shifts").await.contains("赵律师"));
    let listed = ok(server.client(&["roster", "list", "--json"]));
    assert!(listed.contains("\"zhao\""), "{listed}");
    c.close().await.unwrap();
}

/// Pixels of the chart colour on the PDF's first page, rendered by
/// poppler's `pdftoppm` (Debian `poppler-utils`).
fn bars_in_pdf(pdf: &std::path::Path) -> usize {
    common::require("pdftoppm", "poppler-utils");
    let out = Command::new("pdftoppm")
        .args(["-r", "40", "-f", "1", "-l", "1"])
        .arg(pdf)
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftoppm: {}", stderr(&out));
    let ppm = out.stdout;
    // P6 header: magic, width, height, maxval, each followed by whitespace.
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    let pixels = &ppm[i + 1..];
    // #1f6feb, allowing for the rasteriser's rounding.
    pixels
        .chunks_exact(3)
        .filter(|p| {
            (i32::from(p[0]) - 0x1f).abs() < 24
                && (i32::from(p[1]) - 0x6f).abs() < 24
                && (i32::from(p[2]) - 0xeb).abs() < 24
        })
        .count()
}

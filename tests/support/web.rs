//! Helpers of the web end-to-end tests: an HTTP client that logs in like a browser form, and
//! a minimal W3C WebDriver client (over reqwest) driving headless Debian Chromium through
//! chromedriver on a loopback port.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, free_udp_port, have};

/// A reqwest client that does not follow redirects (the tests check them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn cookie_pair(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Posts the login form as a browser would; returns the response.
pub async fn post_login(server: &Server, login: &str, password: &str) -> reqwest::Response {
    let c = http();
    let base = format!("http://{}", server.http);
    let page = c
        .get(format!("{base}/connexion"))
        .send()
        .await
        .expect("GET /connexion");
    let pair = cookie_pair(&page, "guichet_connexion").expect("login csrf cookie");
    let token = pair
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    c.post(format!("{base}/connexion"))
        .header(reqwest::header::COOKIE, pair)
        .form(&[("login", login), ("password", password), ("csrf", &token)])
        .send()
        .await
        .expect("POST /connexion")
}

/// Logs in and returns the `guichet_session=…` cookie pair.
pub async fn session_cookie(server: &Server, login: &str, password: &str) -> String {
    let resp = post_login(server, login, password).await;
    assert_eq!(resp.status(), 303, "login of {login} failed");
    cookie_pair(&resp, "guichet_session").expect("session cookie")
}

/// Logs in and returns the session cookie pair and its CSRF token (for API writes).
pub async fn session_and_csrf(server: &Server, login: &str, password: &str) -> (String, String) {
    let cookie = session_cookie(server, login, password).await;
    let info: Value = http()
        .get(format!("http://{}/api/v1/session", server.http))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .expect("GET /api/v1/session")
        .json()
        .await
        .expect("session JSON");
    let csrf = info["csrf_token"].as_str().expect("csrf token").to_owned();
    (cookie, csrf)
}

/// Whether chromium and chromedriver are installed (required under CI).
pub fn have_browser() -> bool {
    have("chromium") && have("chromedriver")
}

/// A chromedriver process and one Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the WebDriver session makes chromedriver quit Chromium; killing chromedriver
        // alone left the browser running, orphaned (hundreds of processes after a full run).
        end_session(&self.base, &self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` with a plain blocking request (drop cannot await): chromedriver
/// answers once Chromium has exited. Bounded by socket timeouts.
fn end_session(base: &str, session: &str) {
    use std::io::{Read, Write};
    let Some(Ok(addr)) = base
        .strip_prefix("http://")
        .map(str::parse::<std::net::SocketAddr>)
    else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        // The status line arrives once the browser is gone; chromedriver may keep the
        // connection open after it, so stop at the end of the headers.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        Self::start_with_args(&[]).await
    }

    /// Like [`Browser::start`], with a fake microphone that plays `wav` (looped) and a
    /// camera/microphone prompt that always allows: for the WebRTC softphone.
    pub async fn start_with_fake_microphone(wav: &std::path::Path) -> Browser {
        Self::start_with_args(&[
            "--use-fake-ui-for-media-stream".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            format!("--use-file-for-fake-audio-capture={}", wav.display()),
            "--allow-loopback-in-peer-connection".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
        ])
        .await
    }

    /// Starts chromedriver and a headless Chromium session with `extra` command-line flags.
    pub async fn start_with_args(extra: &[String]) -> Browser {
        // chromedriver only takes a TCP port; a free UDP port number is free for TCP too
        // often enough, and a clash fails loudly below.
        let port = free_udp_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,900".to_owned(),
            "--lang=fr-FR".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let args: Vec<String> = args.into_iter().chain(extra.iter().cloned()).collect();
        let resp: Value = client
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}}))
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            client,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.client.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        resp["value"].clone()
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        let v = self
            .call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
        assert!(v.is_null(), "goto {url}: {v}");
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Finds an element by CSS selector, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{id}/value"),
                Some(json!({"text": text})),
            )
            .await;
        assert!(v.is_null(), "type into {css}: {v}");
    }

    /// Clears an input.
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{id}/clear"),
                Some(json!({})),
            )
            .await;
        assert!(v.is_null(), "clear {css}: {v}");
    }

    /// An attribute of an element (re-found if the page re-rendered it).
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        for _ in 0..50 {
            let id = self.find(css).await;
            let v = self
                .call(
                    reqwest::Method::GET,
                    &format!("/element/{id}/attribute/{name}"),
                    None,
                )
                .await;
            if v.is_null() {
                return None;
            }
            if let Some(t) = v.as_str() {
                return Some(t.to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the {name} of {css} could not be read");
    }

    /// Clicks an element (found again if the page re-rendered it meanwhile).
    pub async fn click(&self, css: &str) {
        for _ in 0..50 {
            let id = self.find(css).await;
            let v = self
                .call(
                    reqwest::Method::POST,
                    &format!("/element/{id}/click"),
                    Some(json!({})),
                )
                .await;
            if v.is_null() {
                return;
            }
            assert!(v["error"] == "stale element reference", "click {css}: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{css} kept going stale");
    }

    /// The visible text of an element. Live pages re-render their tables, so an element
    /// found a moment ago may be stale: it is found again.
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            let id = self.find(css).await;
            let v = self
                .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
                .await;
            if let Some(t) = v.as_str() {
                return t.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the text of {css} could not be read");
    }

    /// Waits up to `within` until the text of `css` satisfies `ok`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let t = self.text(css).await;
            if ok(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never matched; last text: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the page.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(v.as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Logs in through the login form.
    pub async fn login(&self, server: &Server, login: &str, password: &str) {
        self.goto(&format!("http://{}/connexion", server.http))
            .await;
        self.type_into("#login", login).await;
        self.type_into("#password", password).await;
        self.click("#se-connecter").await;
        // Wait until the form's answer is shown (another page, or the login page again with
        // its error): navigating at once would cancel the submission.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = self
                .script(
                    "return document.readyState === 'complete' ? \
                     location.pathname + (document.querySelector('p.erreur') ? '!' : '') : '';",
                )
                .await;
            let state = state.as_str().unwrap_or_default();
            if !state.is_empty() && (state != "/connexion") {
                return;
            }
            assert!(Instant::now() < deadline, "the login form never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Standard base64 (the WebDriver screenshot encoding).
pub fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let digits: Vec<u32> = s.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            acc |= d << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes_padded_and_unpadded_input() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGk"), b"hi");
    assert_eq!(decode_base64("YWJj"), b"abc");
}

/// Windows and size, for the agent desk's tests.
impl Browser {
    /// Sets the window's outer size (the desk is checked at 1280×720).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let v = self
            .call(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"width": width, "height": height})),
            )
            .await;
        assert!(v["width"].is_number(), "window size: {v}");
    }

    /// Switches to the most recently opened other window (a link with a `target`), waiting
    /// up to 10 s for it; returns the handle of the window left.
    pub async fn switch_to_new_window(&self) -> String {
        let current = self.call(reqwest::Method::GET, "/window", None).await;
        let current = current.as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let handles = self
                .call(reqwest::Method::GET, "/window/handles", None)
                .await;
            if let Some(other) = handles.as_array().and_then(|h| {
                h.iter()
                    .rev()
                    .filter_map(Value::as_str)
                    .find(|h| *h != current)
            }) {
                self.switch_to_window(other).await;
                return current;
            }
            assert!(Instant::now() < deadline, "no new window: {handles}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Switches to the window `handle`.
    pub async fn switch_to_window(&self, handle: &str) {
        let v = self
            .call(
                reqwest::Method::POST,
                "/window",
                Some(json!({"handle": handle})),
            )
            .await;
        assert!(v.is_null(), "switch window: {v}");
    }
}

/// An accessibility audit run in the page itself (WCAG-inspired, automatable part): French
/// document language, an accessible name on every form control, button and link, no
/// positive `tabindex` (keyboard order follows the page), alternative text on images,
/// text contrast of at least 4.5:1 (3:1 for large text) against the first opaque
/// background behind it, and no horizontal scrolling at the window's width.
const ACCESSIBILITY_AUDIT: &str = r#"
const problems = [];
const lang = document.documentElement.getAttribute('lang') || '';
if (!lang.startsWith('fr')) problems.push('html lang is "' + lang + '", not French');
const visible = (el) => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
};
const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (el.name ? '[name=' + el.name + ']' : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
const named = (el) => {
  if ((el.getAttribute('aria-label') || '').trim()) return true;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(/\s+/).some(id => (document.getElementById(id)?.textContent || '').trim())) return true;
  if (el.labels && Array.from(el.labels).some(l => l.textContent.trim())) return true;
  if ((el.getAttribute('title') || '').trim()) return true;
  return false;
};
for (const el of document.querySelectorAll('input, select, textarea')) {
  const type = (el.getAttribute('type') || '').toLowerCase();
  if (type === 'hidden' || !visible(el)) continue;
  if (['submit', 'button', 'reset'].includes(type)) {
    if (!(el.value || '').trim() && !named(el)) problems.push('unnamed button ' + describe(el));
    continue;
  }
  if (!named(el)) problems.push('no label for ' + describe(el));
}
for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
  if (!visible(el)) continue;
  if (!(el.textContent || '').trim() && !named(el)) problems.push('unnamed ' + describe(el));
}
for (const el of document.querySelectorAll('[tabindex]')) {
  if (parseInt(el.getAttribute('tabindex'), 10) > 0) problems.push('positive tabindex on ' + describe(el));
}
for (const img of document.querySelectorAll('img')) {
  if (!img.hasAttribute('alt')) problems.push('img without alt ' + describe(img));
}
const rgb = (c) => { const m = c.match(/[\d.]+/g) || []; return m.map(Number); };
const luminance = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] === 1)) return c;
  }
  return [255, 255, 255];
};
const seen = new Set();
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (!node.textContent.trim()) continue;
  const el = node.parentElement;
  if (!el || seen.has(el) || !visible(el)) continue;
  if (el.closest('svg')) continue;
  seen.add(el);
  const s = getComputedStyle(el);
  if (el.disabled || el.closest('[disabled]')) continue;
  const fg = rgb(s.color);
  const bg = background(el);
  const l1 = luminance(fg), l2 = luminance(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(s.fontSize);
  const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
  if (ratio < (large ? 3 : 4.5)) {
    problems.push('contrast ' + ratio.toFixed(2) + ':1 for "' + node.textContent.trim().slice(0, 30) + '" in ' + describe(el));
  }
}
if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) {
  problems.push('horizontal scrolling: ' + document.documentElement.scrollWidth + ' px wide in ' + document.documentElement.clientWidth);
}
return problems;
"#;

/// Scripts and the accessibility audit.
impl Browser {
    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The accessibility problems of the current page (empty when it passes).
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let v = self.script(ACCESSIBILITY_AUDIT).await;
        match v.as_array() {
            Some(items) => items
                .iter()
                .map(|p| p.as_str().unwrap_or_default().to_owned())
                .collect(),
            None => vec![format!("the audit did not run: {v}")],
        }
    }
}

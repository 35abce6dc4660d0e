//! The loopback end of `edgeauth login` (RFC 8252 §7.3): a single-purpose HTTP/1.1 listener on
//! `127.0.0.1` and a free port, waiting for the browser to come back to
//! `/callback?code=…&state=…` (or `?error=…&state=…`).
//!
//! Only `GET /callback` ends the wait; anything else (`/favicon.ico`, a stray request) is
//! answered 404 (405 for another method) and ignored. A request head may be at most
//! [`MAX_REQUEST_HEAD`] bytes (431 otherwise) and must arrive within [`CONNECTION_TIMEOUT`]; each
//! connection is read on its own thread, so a connection that sends nothing (a browser's
//! speculative preconnect, a port scanner) cannot hold up the real callback.
//!
//! The callback is checked here against the login's `state`, in constant time. The connection
//! is then kept open in a [`BrowserReply`] so that the page the browser shows can tell the truth
//! about the outcome, which is known only after the code exchange.

use edgeauth_core::constant_time_eq;
use edgeauth_core::secret::Secret;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// Largest request line plus headers accepted.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long one connection may take to send its request head.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections read at the same time; more are closed at once.
const MAX_CONNECTIONS: usize = 16;
/// How often [`LoopbackListener::wait`] polls and calls its `tick`.
const POLL: Duration = Duration::from_millis(80);
/// The longest `code` accepted from the browser (the server's are 43 characters).
const MAX_CODE_LEN: usize = 512;

/// The listening socket and the redirect URI that reaches it.
pub struct LoopbackListener {
    listener: TcpListener,
    redirect_uri: String,
}

/// What the browser brought back, judged against the login's `state`.
#[derive(Debug)]
pub enum Outcome {
    /// The right `state` and a code to exchange.
    Code(Secret),
    /// The right `state` and an OAuth error, e.g. `access_denied` when the person cancelled.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// `state` missing, repeated, or not this login's: a stale tab of another login, or a
    /// request this CLI did not cause. Whatever else it carries is not used.
    WrongState,
    /// The right `state`, but no usable code and no error.
    Malformed(&'static str),
}

/// A callback request: its outcome and the open connection to answer it on.
pub struct Callback {
    pub outcome: Outcome,
    pub reply: BrowserReply,
}

/// The browser's connection, waiting for the page that ends the login.
pub struct BrowserReply(TcpStream);

/// The page shown to the person at the end: a title and one sentence.
pub struct Page<'a> {
    pub ok: bool,
    pub title: &'a str,
    pub detail: &'a str,
}

impl LoopbackListener {
    /// Listens on `127.0.0.1` and a port the OS picks.
    pub fn bind() -> io::Result<LoopbackListener> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackListener {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for `GET /callback` until `deadline`; `None` when the deadline passed first.
    /// `tick` is called about every 80 ms while waiting (spinner, browser process).
    pub fn wait(
        &self,
        state: &Secret,
        deadline: Instant,
        mut tick: impl FnMut(),
    ) -> io::Result<Option<Callback>> {
        let (sender, receiver) = mpsc::channel::<(String, TcpStream)>();
        let active = Arc::new(AtomicUsize::new(0));
        loop {
            // Bounded, so that a flood of connections cannot keep the deadline from being seen.
            for _ in 0..MAX_CONNECTIONS * 4 {
                match self.listener.accept() {
                    Ok((stream, _)) => serve_connection(stream, &sender, &active),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A connection reset before it was accepted, or a transient shortage of
                    // file descriptors: try again at the next poll.
                    Err(_) => break,
                }
            }
            if let Ok((query, stream)) = receiver.try_recv() {
                return Ok(Some(Callback {
                    outcome: judge(&query, state),
                    reply: BrowserReply(stream),
                }));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tick();
            std::thread::sleep(POLL.min(deadline - now));
        }
    }
}

/// Reads one request on its own thread: a callback goes to `sender` with its connection;
/// anything else is answered and closed there.
fn serve_connection(
    stream: TcpStream,
    sender: &mpsc::Sender<(String, TcpStream)>,
    active: &Arc<AtomicUsize>,
) {
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::SeqCst);
        return; // dropping the stream closes it
    }
    let (sender, active) = (sender.clone(), Arc::clone(active));
    std::thread::spawn(move || {
        if let Some(query) = read_callback(&stream) {
            let _ = sender.send((query, stream));
        }
        active.fetch_sub(1, Ordering::SeqCst);
    });
}

/// The query of a `GET /callback` request; other requests are answered here and give `None`.
fn read_callback(mut stream: &TcpStream) -> Option<String> {
    // Accepted sockets inherit non-blocking mode on some platforms.
    stream.set_nonblocking(false).ok()?;
    let head = match read_head(stream) {
        Ok(head) => head,
        Err(HeadError::TooLarge) => {
            respond_text(
                stream,
                "431 Request Header Fields Too Large",
                "request too large",
            );
            drain(stream);
            return None;
        }
        Err(HeadError::Io) => return None,
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some() || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        respond_text(stream, "400 Bad Request", "bad request");
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        respond_text(stream, "404 Not Found", "not found");
        return None;
    }
    if method != "GET" {
        let _ = stream.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return None;
    }
    Some(query.to_owned())
}

enum HeadError {
    TooLarge,
    Io,
}

/// Reads up to the blank line that ends the head, within [`CONNECTION_TIMEOUT`] and
/// [`MAX_REQUEST_HEAD`] bytes.
fn read_head(mut stream: &TcpStream) -> Result<Vec<u8>, HeadError> {
    let deadline = Instant::now() + CONNECTION_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Io);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Io)?;
        let n = stream.read(&mut buf).map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        head.extend_from_slice(&buf[..n]);
        let end = head
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .or_else(|| head.windows(2).position(|w| w == b"\n\n"));
        match end {
            Some(end) if end <= MAX_REQUEST_HEAD => return Ok(head),
            _ if head.len() > MAX_REQUEST_HEAD => return Err(HeadError::TooLarge),
            _ => {}
        }
    }
}

/// Reads what the client is still sending (bounded), so that closing the socket does not reset
/// the connection before the client has read the answer.
fn drain(mut stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn respond_text(mut stream: &TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Judges a callback query. `state` is compared first and in constant time: with the wrong
/// state nothing else in the request is looked at, not even an error.
fn judge(query: &str, state: &Secret) -> Outcome {
    let Some(params) = parse_query(query) else {
        return Outcome::WrongState;
    };
    // A parameter given twice is ambiguous; refuse rather than pick one.
    let single = |name: &str| -> Result<Option<&str>, ()> {
        let mut values = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (first, None) => Ok(first.map(String::as_str)),
            _ => Err(()),
        }
    };
    match single("state") {
        Ok(Some(given)) if constant_time_eq(given.as_bytes(), state.expose().as_bytes()) => {}
        _ => return Outcome::WrongState,
    }
    match (single("error"), single("code")) {
        (Ok(Some(error)), _) => Outcome::Refused {
            error: error.to_owned(),
            description: single("error_description")
                .ok()
                .flatten()
                .map(str::to_owned),
        },
        (Ok(None), Ok(Some(code)))
            if !code.is_empty()
                && code.len() <= MAX_CODE_LEN
                && code.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Outcome::Code(Secret::new(code))
        }
        (Ok(None), Ok(Some(_))) => Outcome::Malformed("the code in the callback is malformed"),
        (Ok(None), Ok(None)) => Outcome::Malformed("the callback carries no code"),
        _ => Outcome::Malformed("the callback repeats a parameter"),
    }
}

/// `application/x-www-form-urlencoded` pairs; `None` for a bad `%` escape or non-UTF-8.
fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl BrowserReply {
    /// Answers the browser with a small HTML page and closes the connection.
    pub fn send(self, page: Page<'_>) {
        let status = if page.ok { "200 OK" } else { "400 Bad Request" };
        let (title, detail) = (html_escape(page.title), html_escape(page.detail));
        let (class, mark) = if page.ok {
            ("ok", "✓")
        } else {
            ("failed", "✕")
        };
        // The look of the server's own pages (its top bar and card), inline: this page comes
        // from the CLI, which cannot load the server's stylesheet.
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · edgeauth</title><style>{PAGE_STYLE}</style></head><body>\
             <header><span class=\"brand\">edgeauth</span> <span class=\"from\">command-line login</span></header>\
             <main class=\"{class}\"><p class=\"mark\" aria-hidden=\"true\">{mark}</p><h1>{title}</h1>\
             <p>{detail}</p></main></body></html>\n"
        );
        let mut stream = self.0;
        let _ = stream.set_write_timeout(Some(CONNECTION_TIMEOUT));
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.flush();
    }
}

/// The style of the page the CLI answers the browser with: the server pages' colours, top bar
/// and card (assets/account.css), no external font or image.
const PAGE_STYLE: &str = "body{margin:0;background:#f5f6f8;color:#1b1f24;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
header{background:#fff;border-bottom:1px solid #d0d7de;padding:.75rem 1.25rem}\
.brand{font-weight:700}.from{color:#57606a;margin-left:.5rem}\
main{max-width:32rem;margin:3rem auto;padding:1.5rem 1.75rem;background:#fff;\
border:1px solid #e6e9ed;border-radius:8px;text-align:center}\
h1{font-size:1.4rem;margin:.25rem 0 .75rem}\
.mark{font-size:2rem;margin:0;line-height:1}.ok .mark{color:#1a7f37}.failed .mark{color:#b42318}\
@media (max-width:36rem){main{margin:1rem;padding:1.25rem}}";

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::thread::JoinHandle;

    const STATE: &str = "Zm9vYmFyYmF6cXV4LXN0YXRlLXZhbHVlLTI1Ni1iaXRz";

    /// A fake browser: sends `request` raw to the listener and returns what it answered.
    pub(crate) fn browser_sends(redirect_uri: &str, request: &str) -> JoinHandle<String> {
        let authority = redirect_uri
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        let request = request.to_owned();
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&authority).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer
        })
    }

    pub(crate) fn get(path_and_query: &str) -> String {
        format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n")
    }

    fn wait(listener: &LoopbackListener, within: Duration) -> Option<Callback> {
        listener
            .wait(&Secret::new(STATE), Instant::now() + within, || {})
            .unwrap()
    }

    #[test]
    fn the_redirect_uri_is_what_the_server_accepts() {
        let listener = LoopbackListener::bind().unwrap();
        let uri = listener.redirect_uri();
        let parsed = edgeauth_core::loopback::LoopbackRedirect::parse(uri).unwrap();
        assert_eq!(parsed.host(), edgeauth_core::loopback::LoopbackHost::V4);
        assert_eq!(
            parsed.port(),
            listener.listener.local_addr().unwrap().port()
        );
        assert!(uri.ends_with("/callback"));
    }

    #[test]
    fn other_paths_get_404_and_the_callback_ends_the_wait() {
        let listener = LoopbackListener::bind().unwrap();
        let uri = listener.redirect_uri().to_owned();
        let favicon = browser_sends(&uri, &get("/favicon.ico"));
        let post = browser_sends(&uri, "POST /callback HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        // An idle connection (a preconnect) must not hold up the real callback.
        let idle = TcpStream::connect(uri[7..].split('/').next().unwrap()).unwrap();
        let callback = {
            let uri = uri.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                browser_sends(
                    &uri,
                    &get(&format!("/callback?code=abc-DEF_123&state={STATE}")),
                )
                .join()
                .unwrap()
            })
        };
        let started = Instant::now();
        let arrived = wait(&listener, Duration::from_secs(10)).expect("a callback");
        assert!(
            started.elapsed() < CONNECTION_TIMEOUT,
            "an idle connection held it up"
        );
        assert!(favicon.join().unwrap().starts_with("HTTP/1.1 404 "));
        assert!(post.join().unwrap().starts_with("HTTP/1.1 405 "));
        let Outcome::Code(code) = &arrived.outcome else {
            panic!("{:?}", arrived.outcome)
        };
        assert_eq!(code.expose(), "abc-DEF_123");
        arrived.reply.send(Page {
            ok: true,
            title: "You are signed in to edgeauth",
            detail: "You can close this tab <now>.",
        });
        let page = callback.join().unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(page.contains("Cache-Control: no-store\r\n"));
        assert!(
            page.contains("<h1>You are signed in to edgeauth</h1>"),
            "{page}"
        );
        assert!(page.contains("close this tab &lt;now&gt;."), "{page}");
        drop(idle);
    }

    #[test]
    fn the_wait_ends_at_the_deadline() {
        let listener = LoopbackListener::bind().unwrap();
        let started = Instant::now();
        let mut ticks = 0;
        let arrived = listener
            .wait(
                &Secret::new(STATE),
                Instant::now() + Duration::from_millis(300),
                || ticks += 1,
            )
            .unwrap();
        assert!(arrived.is_none());
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(ticks >= 2, "{ticks}");
    }

    #[test]
    fn an_oversized_request_is_refused_and_ignored() {
        let listener = LoopbackListener::bind().unwrap();
        let uri = listener.redirect_uri().to_owned();
        let big = browser_sends(
            &uri,
            &format!(
                "GET /callback?x={} HTTP/1.1\r\n\r\n",
                "a".repeat(MAX_REQUEST_HEAD)
            ),
        );
        assert!(wait(&listener, Duration::from_millis(500)).is_none());
        assert!(big.join().unwrap().starts_with("HTTP/1.1 431 "));
    }

    fn judged(query: &str) -> Outcome {
        judge(query, &Secret::new(STATE))
    }

    #[test]
    fn a_wrong_missing_or_repeated_state_is_refused_whatever_else_comes() {
        let other = format!("{}A", &STATE[..STATE.len() - 1]);
        for query in [
            format!("code=abc&state={other}"),
            "code=abc".to_owned(),
            format!("code=abc&state={STATE}&state={STATE}"),
            format!("code=abc&state={STATE}x"),
            format!("error=access_denied&state={other}"),
            format!("code=abc&state={}", &STATE[..10]),
            "code=abc&state=%zz".to_owned(),
        ] {
            assert!(matches!(judged(&query), Outcome::WrongState), "{query}");
        }
    }

    #[test]
    fn errors_codes_and_malformed_callbacks() {
        match judged(&format!(
            "error=access_denied&error_description=The+person+said+no%21&state={STATE}"
        )) {
            Outcome::Refused { error, description } => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("The person said no!"));
            }
            other => panic!("{other:?}"),
        }
        // State may be percent-encoded by whoever built the redirect.
        let encoded = STATE.replace('-', "%2D");
        assert!(matches!(
            judged(&format!("state={encoded}&code=xyz")),
            Outcome::Code(c) if c.expose() == "xyz"
        ));
        for query in [
            format!("state={STATE}"),
            format!("state={STATE}&code="),
            format!("state={STATE}&code=a+b"),
            format!("state={STATE}&code=a&code=b"),
            format!("state={STATE}&code={}", "a".repeat(MAX_CODE_LEN + 1)),
        ] {
            assert!(matches!(judged(&query), Outcome::Malformed(_)), "{query}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2Bd").as_deref(), Some("a b c+d"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}

//! A request body is read as a stream and refused at its limit, so a huge body never sits in
//! the isolate's memory (a production isolate has 128 MB). Measured: the resident memory of
//! the instance's workerd while an unauthenticated client posts 100 MiB, chunked (no
//! `Content-Length` to refuse it by), to an endpoint anyone may call.
//!
//! Alone in this test binary on purpose: a body abandoned half read can make the local
//! runtime fail other requests in flight, and cargo runs test binaries one after another.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use edgeauth_e2e::{super_token, Instance};

const MIB: u64 = 1024 * 1024;
/// What the post sends, at most.
const POSTED: u64 = 100 * MIB;
/// How much workerd may grow while refusing it (the old reader buffered the whole body: the
/// 60 MiB post of the security review took workerd from 132 to 304 MiB).
const GROWTH_BOUND: u64 = 40 * MIB;

#[test]
fn a_100_mib_chunked_post_leaves_memory_flat() {
    let main = Instance::main();
    let super_token = super_token();
    // An endpoint anyone may call (the OAuth reader), and one that reads JSON once the
    // caller is authenticated (an unauthenticated one is refused before its body is read).
    for (target, content_type, bearer) in [
        ("/api/auth/token", "application/x-www-form-urlencoded", None),
        (
            "/api/service-tokens",
            "application/json",
            Some(&super_token),
        ),
    ] {
        // The previous post's body was abandoned half sent; the local runtime may answer the
        // next request 503 ("worker restarted mid-request") while it recovers, so that
        // request is sent again (the measurement covers every attempt).
        let ((status, sent), before, peak) = main.workerd_peak_during(|| {
            let mut attempt = post_chunked(&main, target, content_type, bearer);
            for _ in 0..3 {
                if attempt.0 != 503 {
                    break;
                }
                std::thread::sleep(Duration::from_secs(2));
                attempt = post_chunked(&main, target, content_type, bearer);
            }
            attempt
        });
        let growth = peak.saturating_sub(before);
        eprintln!(
            "{target}: {status}, {} MiB sent before the answer; workerd {} MiB before, peak {} MiB",
            sent / MIB,
            before / MIB,
            peak / MIB
        );
        assert_eq!(status, 413, "{target}: an oversized body is 413");
        assert!(
            growth < GROWTH_BOUND,
            "{target}: workerd grew by {} MiB while refusing a {} MiB body (bound {} MiB)",
            growth / MIB,
            POSTED / MIB,
            GROWTH_BOUND / MIB
        );
    }
    // The instance recovers by itself, before the next test binary uses it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while main.get("/healthz").send().status != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    main.get("/healthz").send().expect_json(200);
}

/// Posts up to [`POSTED`] bytes, chunked, to `target`, stopping when the server answers or
/// closes; returns the status and how much was sent.
fn post_chunked(
    instance: &Instance,
    target: &str,
    content_type: &str,
    bearer: Option<&String>,
) -> (u16, u64) {
    let authority = instance
        .base_url()
        .strip_prefix("http://")
        .expect("an http base URL")
        .to_owned();
    let mut stream = TcpStream::connect(&authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // A server that stops reading without closing must not hang the test.
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let authorization = bearer
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         {authorization}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("headers");
    let chunk = vec![b'a'; 64 * 1024];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent < POSTED && Instant::now() < deadline {
        if stream.write_all(&framed).is_err() {
            break; // the server answered and closed: nothing more to send
        }
        sent += chunk.len() as u64;
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no HTTP answer after {sent} bytes: {text:?}"));
    (status, sent)
}

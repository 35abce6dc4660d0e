//! Helpers shared by the integration tests: a canned HTTP server on loopback that records what
//! it saw, and a sandbox that runs the `edgeauth` binary with a cleared environment and its own
//! working and config directories.
#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// A request as the stub saw it: method, path, lower-cased headers, body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers every request with `respond(&request)`; records what it saw.
pub struct Stub {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    pub fn start(respond: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (n, v) = line.split_once(':').unwrap();
                    headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
                let length = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request = Seen {
                    method,
                    path,
                    headers,
                    body: String::from_utf8(body).unwrap(),
                };
                let (status, body) = respond(&request);
                log.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = reader.get_mut().write_all(response.as_bytes());
            }
        });
        Stub { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("work/sub")).unwrap();
        Sandbox { root }
    }

    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root.path().join("config")
    }

    /// The command for one run, not yet started.
    pub fn command(&self, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_edgeauth"));
        command
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("EDGEAUTH_CONFIG_DIR", self.config_dir())
            // Never a developer's keyring: logins go to the file unless a test says otherwise.
            .env("EDGEAUTH_CREDENTIAL_STORE", "file")
            .envs(env.iter().copied());
        command
    }

    pub fn run(&self, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.command(cwd, env, args).output().unwrap()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

/// A private D-Bus session with GNOME Keyring's Secret Service, unlocked, for as long as it
/// lives; `None` (and a note on stderr) where dbus-run-session or gnome-keyring-daemon is not
/// installed, unless `EDGEAUTH_TEST_SECRET_SERVICE=required` (scripts/test, which has
/// scripts/setup install them): then a missing one fails the test.
pub struct SecretService {
    session: Child,
    pub address: String,
}

impl SecretService {
    pub fn start(home: &Path) -> Option<SecretService> {
        let script = "echo -n edgeauth-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 \
            && echo \"$DBUS_SESSION_BUS_ADDRESS\" && exec cat >/dev/null";
        let spawned = std::process::Command::new("dbus-run-session")
            .args(["--", "sh", "-c", script])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            // The session lasts until this pipe closes: `cat` ends, then dbus-run-session
            // stops its bus, and the keyring daemon leaves with the bus.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut session = match spawned {
            Ok(session) => session,
            Err(e) => return not_here(&format!("no dbus-run-session ({e})")),
        };
        let mut line = String::new();
        BufReader::new(session.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        if address.is_empty() {
            let _ = session.kill();
            let _ = session.wait();
            return not_here("gnome-keyring-daemon did not start");
        }
        Some(SecretService { session, address })
    }
}

/// A D-Bus session address that counts the processes that knock on it and answers none: the
/// OS keyring (Secret Service) is reached over the session bus, so a command run with
/// `DBUS_SESSION_BUS_ADDRESS` set to [`DeadBus::address`] that asks the keyring anything
/// knocks once or more, and then finds no keyring.
#[cfg(unix)]
pub struct DeadBus {
    pub address: String,
    knocks: Arc<std::sync::atomic::AtomicUsize>,
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
impl DeadBus {
    pub fn start() -> DeadBus {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let knocks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = knocks.clone();
        // Counted before the connection closes: a knocking process cannot go on (and exit)
        // before its knock is counted.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        DeadBus {
            address: format!("unix:path={}", path.display()),
            knocks,
            _dir: dir,
        }
    }

    /// How many connections were made so far.
    pub fn knocks(&self) -> usize {
        self.knocks.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `None` with a note, or a failed test where the Secret Service is required.
fn not_here(why: &str) -> Option<SecretService> {
    if std::env::var("EDGEAUTH_TEST_SECRET_SERVICE").as_deref() == Ok("required") {
        panic!("{why}, and EDGEAUTH_TEST_SECRET_SERVICE=required: run scripts/setup");
    }
    eprintln!("{why}: the Secret Service test did not run");
    None
}

impl Drop for SecretService {
    fn drop(&mut self) {
        drop(self.session.stdin.take());
        let _ = self.session.wait();
    }
}

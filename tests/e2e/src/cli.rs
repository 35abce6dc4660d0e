//! The `edgeauth` binary, run as a user would: a subprocess in a scratch working directory,
//! with its own config directory and home, and none of the caller's `EDGEAUTH_*` settings.
//!
//! [`CliSandbox::run`] runs a command to its end; [`CliSandbox::spawn`] starts one in the
//! background ([`CliProcess`]) and reads its stderr line by line while it runs, for
//! `edgeauth login`, which prints the URL to open and then waits for the browser.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::require_env;

/// Exit codes the CLI promises (docs: distinct exit codes per failure class).
pub const EXIT_OK: i32 = 0;
/// Any other failure, among them a refused code exchange (`invalid_grant`).
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNAUTHORIZED: i32 = 3;
pub const EXIT_FORBIDDEN: i32 = 4;
pub const EXIT_NOT_FOUND: i32 = 5;
pub const EXIT_UNREACHABLE: i32 = 6;
/// A server error or unexpected response (5xx).
pub const EXIT_SERVER_ERROR: i32 = 7;
pub const EXIT_NO_SERVER: i32 = 8;
/// `login`: no answer from the browser within `EDGEAUTH_LOGIN_TIMEOUT`.
pub const EXIT_LOGIN_TIMED_OUT: i32 = 9;
/// `login`: denied in the browser, refused by the server, or an answer that was not valid for
/// this login.
pub const EXIT_LOGIN_REFUSED: i32 = 10;

/// The line `edgeauth login` writes to stderr before the URL (which follows on the next line,
/// indented by two spaces).
pub const OPEN_THIS_URL: &str = "Open this URL in your browser:";

const CLI_PATIENCE: Duration = Duration::from_secs(60);

/// The path of the built `edgeauth` binary.
pub fn cli_path() -> PathBuf {
    let path = PathBuf::from(require_env("EDGEAUTH_E2E_CLI"));
    assert!(
        path.is_file(),
        "EDGEAUTH_E2E_CLI={} is not a file; scripts/test builds it",
        path.display()
    );
    path
}

/// A scratch home for one test's CLI runs: `root/config` (`EDGEAUTH_CONFIG_DIR`),
/// `root/home` (`HOME`), and `root/work` (the default working directory).
pub struct CliSandbox {
    root: TempDir,
}

/// What one CLI run did.
#[derive(Debug)]
pub struct CliRun {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Fails the test unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code from the CLI:\n{self}"
        );
        self
    }

    /// Fails the test unless the run succeeded; returns stdout parsed as JSON.
    pub fn expect_json(&self) -> serde_json::Value {
        self.expect_code(EXIT_OK);
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "edgeauth {:?} -> exit {}", self.args, self.code)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        write!(f, "--- stderr\n{}", self.stderr)
    }
}

impl Default for CliSandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl CliSandbox {
    pub fn new() -> CliSandbox {
        let root = tempfile::Builder::new()
            .prefix("edgeauth-e2e-cli-")
            .tempdir()
            .expect("create a temp dir");
        for dir in ["config", "home", "work"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("create a sandbox dir");
        }
        CliSandbox { root }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config")
    }

    pub fn work_dir(&self) -> PathBuf {
        self.root().join("work")
    }

    /// Runs `edgeauth args…` in the work directory with extra environment `env`.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> CliRun {
        self.run_in(&self.work_dir(), args, env)
    }

    /// Runs `edgeauth args…` in `cwd` with extra environment `env`.
    pub fn run_in(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> CliRun {
        let mut command = self.command(cwd, args, env);
        // Output goes to files, so a chatty CLI cannot block on a full pipe.
        let n = crate::unique("run");
        let out_path = self.root().join(format!("{n}.stdout"));
        let err_path = self.root().join(format!("{n}.stderr"));
        command
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"));
        let mut child = command.spawn().expect("start the edgeauth CLI");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the CLI") {
                break status;
            }
            if started.elapsed() > CLI_PATIENCE {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "edgeauth {args:?} did not finish within {CLI_PATIENCE:?}:\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(20));
        };
        let run = CliRun {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out_path).expect("read stdout"),
            stderr: std::fs::read_to_string(&err_path).expect("read stderr"),
        };
        std::fs::remove_file(out_path).ok();
        std::fs::remove_file(err_path).ok();
        run
    }

    /// Starts `edgeauth args…` in the work directory with extra environment `env`, in the
    /// background: its stderr is read line by line as it comes ([`CliProcess::wait_for_line`]).
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> CliProcess {
        let mut command = self.command(&self.work_dir(), args, env);
        let out_path = self
            .root()
            .join(format!("{}.stdout", crate::unique("spawned")));
        command
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the edgeauth CLI");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        let collected = Arc::new(Mutex::new(String::new()));
        let all = Arc::clone(&collected);
        // The reader ends when the CLI closes stderr (it exits); lines nobody waits for are
        // still collected for the final CliRun.
        thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        all.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_str(&text);
                        // Spinner frames are erased with `\r`; keep what a reader of the
                        // line would see last.
                        let shown = text.trim_end_matches(['\r', '\n']);
                        let shown = shown.rsplit('\r').next().unwrap_or("").to_owned();
                        let _ = sender.send(shown);
                    }
                }
            }
        });
        CliProcess {
            args: args.iter().map(|s| s.to_string()).collect(),
            child: Some(child),
            lines,
            stderr: collected,
            out_path,
        }
    }

    /// `edgeauth args…` with the sandbox's environment: no `EDGEAUTH_*` of the caller, the
    /// sandbox's config directory and home, `env` on top; stdin closed.
    fn command(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(cli_path());
        command.args(args).current_dir(cwd).stdin(Stdio::null());
        for (key, _) in std::env::vars() {
            if key.starts_with("EDGEAUTH_") {
                command.env_remove(&key);
            }
        }
        let home = self.root().join("home");
        command
            .env("EDGEAUTH_CONFIG_DIR", self.config_dir())
            // The tests read the stored tokens from credentials.json, and never touch a
            // developer's keyring.
            .env("EDGEAUTH_CREDENTIAL_STORE", "file")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("NO_COLOR", "1")
            .env_remove("BROWSER");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }
}

/// An `edgeauth` command running in the background (see [`CliSandbox::spawn`]). Dropping it
/// kills the command if it is still running (only that process: the one this test started).
pub struct CliProcess {
    args: Vec<String>,
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    out_path: PathBuf,
}

impl CliProcess {
    /// The stderr written so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next stderr line (trailing newline removed), or `None` when the CLI closed stderr.
    /// Fails the test if no line comes within `patience`.
    pub fn next_line(&mut self, patience: Duration) -> Option<String> {
        match self.lines.recv_timeout(patience) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!(
                "edgeauth {:?} wrote no stderr line within {patience:?}; so far:\n{}",
                self.args,
                self.stderr_so_far()
            ),
        }
    }

    /// Reads stderr lines until one satisfies `wanted`, and returns it. Fails the test if the
    /// CLI closes stderr (exits) first, or after `patience`.
    pub fn wait_for_line(&mut self, patience: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => format!("within {patience:?}"),
                        RecvTimeoutError::Disconnected => "before it exited".to_owned(),
                    };
                    panic!(
                        "edgeauth {:?} did not write the expected stderr line {why}; stderr:\n{}",
                        self.args,
                        self.stderr_so_far()
                    )
                }
            }
        }
    }

    /// The URL `edgeauth login` asks the person to open: the line after
    /// [`OPEN_THIS_URL`], which must be two spaces and the URL.
    pub fn login_url(&mut self, patience: Duration) -> String {
        self.wait_for_line(patience, |line| line == OPEN_THIS_URL);
        let line = self.next_line(patience).unwrap_or_else(|| {
            panic!(
                "edgeauth {:?} exited right after {OPEN_THIS_URL:?}:\n{}",
                self.args,
                self.stderr_so_far()
            )
        });
        let url = line.strip_prefix("  ").unwrap_or_else(|| {
            panic!("the line after {OPEN_THIS_URL:?} is two spaces and the URL, not {line:?}")
        });
        assert!(
            url.starts_with("http") && !url.starts_with(' ') && !url.contains(char::is_whitespace),
            "the line after {OPEN_THIS_URL:?} is two spaces and the URL, not {line:?}"
        );
        url.to_owned()
    }

    /// Whether the CLI is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().expect("wait for the CLI").is_none(),
            None => false,
        }
    }

    /// Waits for the CLI to exit (killing it and failing the test after `patience`) and
    /// returns what it did.
    pub fn wait(mut self, patience: Duration) -> CliRun {
        let mut child = self.child.take().expect("a running CLI");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the CLI") {
                break status;
            }
            if started.elapsed() > patience {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "edgeauth {:?} did not finish within {patience:?}; stderr:\n{}",
                    self.args,
                    self.stderr_so_far()
                );
            }
            sleep(Duration::from_millis(20));
        };
        // The reader thread has the rest of stderr once the pipe closes.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Err(RecvTimeoutError::Disconnected) => break,
                _ => continue,
            }
        }
        CliRun {
            args: self.args.clone(),
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.out_path).expect("read stdout"),
            stderr: self.stderr_so_far(),
        }
    }
}

impl Drop for CliProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                child.kill().ok();
            }
            child.wait().ok();
        }
        std::fs::remove_file(&self.out_path).ok();
    }
}

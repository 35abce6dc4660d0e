//! The `edgeauth` binary, run as a user would: a subprocess in a scratch working directory,
//! with its own config directory and home, and none of the caller's `EDGEAUTH_*` settings.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::require_env;

/// Exit codes the CLI promises (docs: distinct exit codes per failure class).
pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNAUTHORIZED: i32 = 3;
pub const EXIT_FORBIDDEN: i32 = 4;
pub const EXIT_NOT_FOUND: i32 = 5;
pub const EXIT_UNREACHABLE: i32 = 6;
pub const EXIT_NO_SERVER: i32 = 8;

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
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("NO_COLOR", "1")
            .env_remove("BROWSER");
        for (key, value) in env {
            command.env(key, value);
        }

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
}

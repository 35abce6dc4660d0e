//! Storage faults on command, for the end-to-end fault tests: compiled only into the test
//! build (`--features fault-injection`, which scripts/build-worker makes into build-faults/
//! and scripts/test runs as the FAULTS instance). A production build has none of this: every
//! check below is an empty inline function there.
//!
//! `POST /__faults` with `{"d1": MODE, "kv": MODE, "forget_provider": bool}` sets the plan of
//! the isolate (`wrangler dev` runs one) and answers how many D1 and KV operations the
//! previous plan saw; `GET /__faults` answers the counts. A MODE is `"up"`, `"down"` or
//! `{"fail_after": n}`: the first `n` operations pass, every later one fails, as when storage
//! goes away in the middle of a request. A D1 batch is one operation (one transaction), and
//! each retry of one is another. These failures are not transient: nothing retries them.
//!
//! D1 only, failures that D1 documents as transient (`D1_ERROR: Network connection lost.`,
//! which the store retries once where that is safe, src/store/retry.rs):
//! `{"transient_at": n}` fails only the `n`-th operation (counting from 1), before it reaches
//! D1; `{"lost_at": n}` runs the `n`-th operation (it commits) and then fails it, as a
//! connection lost before the answer came back would; `"transient"` fails every operation so.
//! `forget_provider` drops the cached discovery document and JWKS of the identity provider.

#[cfg(feature = "fault-injection")]
pub use injected::{control, d1, d1_answered, kv, provider_forgotten};

/// Whether a D1 operation may run now (always, outside the fault-injection build), and its
/// number for [`d1_answered`].
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn d1() -> Result<u32, &'static str> {
    Ok(0)
}

/// Whether D1 operation `op`, which ran, gets its answer (always, outside the
/// fault-injection build).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn d1_answered(_op: u32) -> Result<(), &'static str> {
    Ok(())
}

/// Whether a KV operation may run now (always, outside the fault-injection build).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn kv() -> Result<(), &'static str> {
    Ok(())
}

/// Whether the identity provider's cached documents must be dropped now (never, outside the
/// fault-injection build).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn provider_forgotten() -> bool {
    false
}

#[cfg(feature = "fault-injection")]
mod injected {
    use std::cell::RefCell;

    use serde::Deserialize;
    use serde_json::json;
    use worker::{Request, Response};

    use crate::http;

    /// What the store answers: every operation, none, or the first `n`; or (D1) a
    /// transient failure of the `n`-th operation before it runs or after it ran, or of all.
    #[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Up,
        Down,
        FailAfter(u32),
        Transient,
        TransientAt(u32),
        LostAt(u32),
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Plan {
        #[serde(default)]
        d1: Mode,
        #[serde(default)]
        kv: Mode,
        #[serde(default)]
        forget_provider: bool,
    }

    #[derive(Default)]
    struct State {
        d1: Mode,
        kv: Mode,
        d1_ops: u32,
        kv_ops: u32,
        forget_provider: bool,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
    }

    const FAULT: &str = "injected fault (fault-injection build)";
    /// D1's own words for a lost connection (its list of errors to retry), so that the
    /// store's classification is what is exercised.
    const TRANSIENT: &str = "D1_ERROR: Network connection lost. (injected fault, before the operation ran: fault-injection build)";
    const LOST: &str = "D1_ERROR: Network connection lost. (injected fault, after the operation ran: fault-injection build)";

    /// Counts an operation, giving its number; the error is the injected fault.
    fn pass(mode: Mode, ops: &mut u32) -> Result<u32, &'static str> {
        *ops += 1;
        match mode {
            Mode::Up | Mode::LostAt(_) => Ok(*ops),
            Mode::FailAfter(n) if *ops <= n => Ok(*ops),
            Mode::Down | Mode::FailAfter(_) => Err(FAULT),
            Mode::Transient => Err(TRANSIENT),
            Mode::TransientAt(n) if *ops == n => Err(TRANSIENT),
            Mode::TransientAt(_) => Ok(*ops),
        }
    }

    /// Counts a D1 operation, giving its number; the error is the injected fault.
    pub fn d1() -> Result<u32, &'static str> {
        STATE.with(|s| {
            let s = &mut *s.borrow_mut();
            pass(s.d1, &mut s.d1_ops)
        })
    }

    /// Whether D1 operation `op`, which ran, gets its answer: not under `{"lost_at": op}`.
    pub fn d1_answered(op: u32) -> Result<(), &'static str> {
        STATE.with(|s| match s.borrow().d1 {
            Mode::LostAt(n) if n == op => Err(LOST),
            _ => Ok(()),
        })
    }

    /// Counts a KV operation; the error is the injected fault.
    pub fn kv() -> Result<(), &'static str> {
        STATE.with(|s| {
            let s = &mut *s.borrow_mut();
            pass(s.kv, &mut s.kv_ops).map(|_| ())
        })
    }

    /// Whether `/__faults` asked to drop the provider's cached documents since the last call.
    pub fn provider_forgotten() -> bool {
        STATE.with(|s| std::mem::take(&mut s.borrow_mut().forget_provider))
    }

    /// `GET /__faults` (the counts) and `POST /__faults` (a new plan; the old plan's counts).
    pub async fn control(mut req: Request) -> Response {
        let counts = || {
            STATE.with(|s| {
                let s = s.borrow();
                json!({"d1_ops": s.d1_ops, "kv_ops": s.kv_ops})
            })
        };
        if req.inner().method() != "POST" {
            return http::json(200, &counts());
        }
        let body = req.bytes().await.unwrap_or_default();
        let plan = serde_json::from_slice::<Plan>(&body)
            .map_err(|e| e.to_string())
            .and_then(|plan| match plan.kv {
                Mode::Transient | Mode::TransientAt(_) | Mode::LostAt(_) => {
                    Err("the transient modes are D1's only".to_owned())
                }
                _ => Ok(plan),
            });
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                let refusal =
                    json!({"error": "bad_request", "message": format!("a fault plan: {e}")});
                return http::json(400, &refusal);
            }
        };
        let before = counts();
        STATE.with(|s| {
            *s.borrow_mut() = State {
                d1: plan.d1,
                kv: plan.kv,
                forget_provider: plan.forget_provider,
                ..State::default()
            }
        });
        worker::console_log!("faults: d1 {:?}, kv {:?}", plan.d1, plan.kv);
        http::json(200, &before)
    }
}

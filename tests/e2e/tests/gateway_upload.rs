//! A 100 MiB upload through MAIN's gateway reaches the test origin intact (its SHA-256 matches
//! there) while the Worker's memory stays flat: the body is streamed to the origin, never held.
//!
//! Alone in this test binary on purpose, like memory.rs: the measure is the resident memory of
//! MAIN's workerd, which other tests' requests would move (cargo runs test binaries one after
//! another).

use edgeauth_e2e::{mint_service_token, super_token, unique, Instance};
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;
/// How much workerd may grow while passing 100 MiB on (a buffered body would be 100 MiB and more).
const GROWTH_BOUND: u64 = 40 * MIB;

#[test]
fn a_100_mib_upload_streams_to_the_origin_intact_and_the_worker_stays_flat() {
    let main = Instance::main();
    let token =
        mint_service_token(&main, &super_token(), "default", &unique("upload"), &["*"]).token;
    let mut body = vec![0u8; (100 * MIB) as usize];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for chunk in body.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let expected = hex::encode(Sha256::digest(&body));

    let (response, before, peak) = main.workerd_peak_during(|| {
        main.request("PUT", "/echo/upload-target/blob")
            .bearer(&token)
            .body(Some("application/octet-stream"), body)
            .send()
    });
    let echo = response.expect_json(200);
    assert_eq!(echo["body_bytes"], 100 * MIB, "{echo}");
    assert_eq!(
        echo["body_sha256"], expected,
        "the origin got the body intact"
    );
    eprintln!(
        "workerd {} MiB before, peak {} MiB",
        before / MIB,
        peak / MIB
    );
    assert!(
        peak.saturating_sub(before) < GROWTH_BOUND,
        "the Worker's workerd grew by {} MiB passing a 100 MiB upload on (bound {} MiB): it buffered",
        peak.saturating_sub(before) / MIB,
        GROWTH_BOUND / MIB
    );
}

//! Arbitrary server bytes into the session's response parser: it must
//! store, ask for more input, or fail with an error; never panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasimap_protocol::session::{Poll, Session, State};

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    // Make a tag known so tagged replies can complete.
    let _ = s.start_command("NOOP", &[], None, None);
    s.framer().feed(data);
    s.framer().feed_eof();
    for _ in 0..=data.len() + 1 {
        match s.poll_response() {
            Ok(Poll::NeedInput) | Err(_) => return,
            Ok(_) => {}
        }
    }
    panic!("poll_response made no progress");
});

//! TCP framing: any byte stream, cut anywhere, must frame or fail cleanly.
#![no_main]

use guichet_sip::validate::{StreamFrame, frame_stream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    for _ in 0..16 {
        match frame_stream(buf) {
            StreamFrame::Complete { consumed, .. } if consumed > 0 && consumed <= buf.len() => {
                buf = &buf[consumed..];
            }
            StreamFrame::Complete { consumed, .. } => panic!("bad consumed {consumed}"),
            _ => break,
        }
    }
});

//! Every byte string through the UDP validation front, then every typed header reader and
//! the SDP parser: nothing may panic.
#![no_main]

use guichet_sip::message::{NameAddr, SipUri, parse_via};
use guichet_sip::sdp::SessionDescription;
use guichet_sip::validate::{Verdict, check_datagram};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Verdict::Request(m) | Verdict::Response(m) = check_datagram(data) {
        for h in &m.headers {
            let _ = NameAddr::parse(&h.value);
            let _ = parse_via(&h.value);
        }
        if let Some(u) = m.request_uri() {
            let _ = SipUri::parse(u);
        }
        let _ = m.to_bytes();
        let _ = SessionDescription::parse(&m.body);
    }
});

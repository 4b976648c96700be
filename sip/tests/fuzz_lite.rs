//! A bounded, always-on cousin of the cargo-fuzz targets in `fuzz/`: random bytes and
//! mutated RFC 4475 messages through the parse path. Nothing may panic, and whatever is
//! accepted must survive a serialize/parse round trip.

use guichet_sip::message::{NameAddr, SipUri, parse_via};
use guichet_sip::sdp::SessionDescription;
use guichet_sip::validate::{StreamFrame, Verdict, check_datagram, frame_stream};
use proptest::prelude::*;

fn exercise(data: &[u8]) {
    if let Verdict::Request(m) | Verdict::Response(m) = check_datagram(data) {
        for h in &m.headers {
            let _ = NameAddr::parse(&h.value);
            let _ = parse_via(&h.value);
        }
        if let Some(u) = m.request_uri() {
            let _ = SipUri::parse(u);
        }
        let _ = SessionDescription::parse(&m.body);
        let again = check_datagram(&m.to_bytes());
        let ok = matches!(again, Verdict::Request(_) | Verdict::Response(_));
        assert!(
            ok,
            "accepted message must re-parse after serialization: {again:?}"
        );
    }
    if let StreamFrame::Complete { consumed, .. } = frame_stream(data) {
        assert!(consumed <= data.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&data);
    }

    #[test]
    fn mutated_torture_messages_never_panic(
        idx in 0usize..50,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let case = &sipx_testkit::rfc4475::CASES[idx % sipx_testkit::rfc4475::CASES.len()];
        let mut data = case.bytes.to_vec();
        for (pos, byte) in flips {
            let len = data.len().max(1);
            if let Some(b) = data.get_mut(pos % len) {
                *b = byte;
            }
        }
        let cut = cut % (data.len() + 1);
        exercise(&data[..cut]);
        exercise(&data);
    }
}

//! RFC 4475 torture messages through the validation front: valid ones accepted, invalid ones
//! answered with the right 4xx/5xx or dropped, none panics.

use guichet_sip::message::StartLine;
use guichet_sip::validate::{StreamFrame, Verdict, check_datagram, frame_stream};
use sipx_testkit::rfc4475::{self, Expect};

fn code(v: &Verdict) -> Option<u16> {
    match v {
        Verdict::Reject(m) => m.status(),
        _ => None,
    }
}

#[test]
fn every_torture_message_gets_the_right_verdict() {
    let mut checked = 0;
    for case in rfc4475::classified() {
        let v = check_datagram(case.bytes);
        match case.expect {
            Expect::ParseOk => {
                let ok = matches!(v, Verdict::Request(_) | Verdict::Response(_));
                assert!(
                    ok,
                    "{} ({}) must be accepted, got {v:?}",
                    case.name, case.title
                );
            }
            Expect::ParseErr(_) => {
                let ok = matches!(v, Verdict::Drop(_)) || code(&v) == Some(400);
                assert!(ok, "{} must be dropped or get 400, got {v:?}", case.name);
            }
            Expect::HeaderErr(_) | Expect::ValidateErr(_) => {
                let is_response = case.bytes.starts_with(b"SIP/");
                if is_response {
                    assert!(matches!(v, Verdict::Drop(_)), "{}: {v:?}", case.name);
                } else if case.name == "badvers" {
                    assert_eq!(code(&v), Some(505), "{}", case.name);
                } else {
                    assert_eq!(code(&v), Some(400), "{}: {v:?}", case.name);
                }
            }
            _ => {}
        }
        checked += 1;
    }
    assert_eq!(checked, 49, "all classified RFC 4475 cases");
}

#[test]
fn reasons_say_what_was_wrong() {
    let reason = |name: &str| match check_datagram(rfc4475::case(name).unwrap().bytes) {
        Verdict::Reject(m) => match m.start {
            StartLine::Response { reason, .. } => reason,
            StartLine::Request { .. } => String::new(),
        },
        other => format!("{other:?}"),
    };
    assert_eq!(
        reason("mismatch01"),
        "CSeq method does not match request method"
    );
    assert_eq!(reason("insuf"), "Missing To header");
    assert_eq!(reason("multi01"), "Duplicate To header");
    assert_eq!(reason("clerr"), "Content-Length larger than body");
    assert_eq!(reason("escruri"), "Request-URI must not contain headers");
    assert_eq!(reason("scalar02"), "Malformed CSeq header");
    assert_eq!(reason("quotbal"), "Malformed To header");
    assert_eq!(reason("badinv01"), "Malformed Via header");
}

#[test]
fn torture_messages_on_a_stream_never_panic() {
    for case in rfc4475::CASES {
        let mut buf = case.bytes.to_vec();
        // Feed byte by byte prefixes too: framing must never panic on partial input.
        for cut in [1, buf.len() / 2, buf.len()] {
            let _ = frame_stream(&buf[..cut]);
        }
        buf.extend_from_slice(b"\r\n");
        match frame_stream(&buf) {
            StreamFrame::Incomplete | StreamFrame::Broken(_) | StreamFrame::Complete { .. } => {}
        }
    }
}

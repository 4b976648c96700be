//! Parse and serialize an INVITE with SDP (the hot path of every call).

use criterion::{Criterion, criterion_group, criterion_main};
use guichet_sip::sdp::SessionDescription;
use guichet_sip::validate::{Verdict, check_datagram};
use std::hint::black_box;

const HEAD: &str = "INVITE sip:8585@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:8585@192.0.2.10>\r\n\
From: \"Jeanne Martin\" <sip:0601020304@192.0.2.20>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.fr\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:0601020304@192.0.2.20:5060>\r\n\
Supported: timer\r\n\
Session-Expires: 1800\r\n\
Content-Type: application/sdp\r\n";

const SDP: &str = "v=0\r\n\
o=oxe 2890844526 2890844526 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 192.0.2.20\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

fn bench(c: &mut Criterion) {
    let invite = format!("{HEAD}Content-Length: {}\r\n\r\n{SDP}", SDP.len());
    let invite = invite.as_bytes();
    let Verdict::Request(parsed) = check_datagram(invite) else {
        panic!("benchmark INVITE must be valid");
    };
    assert!(SessionDescription::parse(&parsed.body).is_ok());
    c.bench_function("validate+parse INVITE with SDP", |b| {
        b.iter(|| match check_datagram(black_box(invite)) {
            Verdict::Request(m) => SessionDescription::parse(&m.body).is_ok(),
            _ => false,
        })
    });
    c.bench_function("serialize INVITE with SDP", |b| {
        b.iter(|| black_box(&parsed).to_bytes().len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

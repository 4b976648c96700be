//! G.711 per 20 ms frame, RTP packetize/parse.
use criterion::{Criterion, criterion_group, criterion_main};
use guichet_media::Codec;
use guichet_media::rtp::RtpPacket;
use std::hint::black_box;

fn g711(c: &mut Criterion) {
    let frame: Vec<i16> = (0..160)
        .map(|i| ((i * 397) % 65536 - 32768) as i16)
        .collect();
    let mut out = Vec::with_capacity(160);
    for codec in [Codec::Pcmu, Codec::Pcma] {
        c.bench_function(&format!("{codec:?} encode 20 ms"), |b| {
            b.iter(|| {
                out.clear();
                codec.encode(black_box(&frame), &mut out);
            })
        });
        let mut payload = Vec::new();
        codec.encode(&frame, &mut payload);
        let mut pcm = Vec::with_capacity(160);
        c.bench_function(&format!("{codec:?} decode 20 ms"), |b| {
            b.iter(|| {
                pcm.clear();
                codec.decode(black_box(&payload), &mut pcm);
            })
        });
    }
}

fn rtp(c: &mut Criterion) {
    let payload = [0x55u8; 160];
    let mut buf = Vec::with_capacity(200);
    c.bench_function("RTP packetize 20 ms PCMU", |b| {
        b.iter(|| {
            RtpPacket {
                marker: false,
                payload_type: 0,
                sequence: black_box(1234),
                timestamp: black_box(160_000),
                ssrc: 0xDEAD_BEEF,
                payload: &payload,
            }
            .write(&mut buf)
        })
    });
    c.bench_function("RTP parse 20 ms PCMU", |b| {
        b.iter(|| RtpPacket::parse(black_box(&buf)).map(|p| p.sequence))
    });
}

criterion_group!(benches, g711, rtp);
criterion_main!(benches);

//! G.711 µ-law (PCMU) and A-law (PCMA) codecs, written from ITU-T G.711.
//!
//! The encoders follow the segment/quantisation rules of the recommendation
//! (14-bit magnitude with a bias of 33 for µ-law, 13-bit sign-magnitude for
//! A-law). The encode and decode tables are computed from those functions
//! at compile time by `const fn`s, so there is no pasted table to get wrong.

/// Number of samples in a 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: usize = 160;

/// A G.711 variant, i.e. the audio codec of an RTP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type of this codec (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encodes one linear sample.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ULAW_ENCODE[sample as u16 as usize],
            Codec::Pcma => ALAW_ENCODE[sample as u16 as usize],
        }
    }

    /// Decodes one code to a linear sample.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_DECODE[code as usize],
            Codec::Pcma => ALAW_DECODE[code as usize],
        }
    }

    /// Encodes `pcm`, appending one byte per sample to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len());
        let table = match self {
            Codec::Pcmu => &ULAW_ENCODE,
            Codec::Pcma => &ALAW_ENCODE,
        };
        out.extend(pcm.iter().map(|&s| table[s as u16 as usize]));
    }

    /// Decodes `payload`, appending one linear sample per byte to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        out.reserve(payload.len());
        out.extend(payload.iter().map(|&c| table[c as usize]));
    }
}

/// Segment number (0..=8) of a non-negative magnitude: the number of
/// significant bits above the first `first_bits` ones. 8 means "beyond the
/// last segment" (clipped).
#[inline]
const fn segment(magnitude: u32, first_bits: u32) -> u32 {
    let bits = 32 - magnitude.leading_zeros();
    bits.saturating_sub(first_bits)
}

/// Reduces a 16-bit sample to `bits` bits, rounding to nearest and
/// saturating at the largest positive value.
#[inline]
const fn to_bits(sample: i16, bits: u32) -> i32 {
    let shift = 16 - bits;
    let half = 1i32 << (shift - 1);
    let max = (1i32 << (bits - 1)) - 1;
    let v = (sample as i32 + half) >> shift;
    if v > max { max } else { v }
}

/// µ-law encoding of a 16-bit linear sample.
#[inline]
pub const fn ulaw_encode(sample: i16) -> u8 {
    // G.711 µ-law works on 14-bit samples; reduce with rounding to nearest
    // (as sox does), saturating at the top.
    let mut value = to_bits(sample, 14);
    let mask: u8 = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    if value > 8159 {
        value = 8159;
    }
    value += 33;
    // Segment ends are 0x3F, 0x7F, ..., 0x1FFF: 6 bits for segment 0.
    let seg = segment(value as u32, 6);
    let code = if seg >= 8 {
        0x7F
    } else {
        ((seg << 4) | ((value as u32 >> (seg + 1)) & 0x0F)) as u8
    };
    code ^ mask
}

/// A-law encoding of a 16-bit linear sample.
#[inline]
pub const fn alaw_encode(sample: i16) -> u8 {
    // G.711 A-law works on 13-bit samples, reduced the same way.
    let mut value = to_bits(sample, 13);
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    // Segment ends are 0x1F, 0x3F, ..., 0xFFF: 5 bits for segment 0.
    let seg = segment(value as u32, 5);
    let code = if seg >= 8 {
        0x7F
    } else if seg < 2 {
        ((seg << 4) | ((value as u32 >> 1) & 0x0F)) as u8
    } else {
        ((seg << 4) | ((value as u32 >> seg) & 0x0F)) as u8
    };
    code ^ mask
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let mut t: i32 = (((u & 0x0F) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t: i32 = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    table
}

/// Encoder tables indexed by the sample's bit pattern (`sample as u16`),
/// computed at compile time from the functions above: a lookup is several
/// times faster than the segment search on the per-packet path.
const fn build_encoder(alaw: bool) -> [u8; 65536] {
    let mut table = [0u8; 65536];
    let mut i = 0;
    while i < 65536 {
        let sample = i as u16 as i16;
        table[i] = if alaw {
            alaw_encode(sample)
        } else {
            ulaw_encode(sample)
        };
        i += 1;
    }
    table
}

static ULAW_ENCODE: [u8; 65536] = build_encoder(false);
static ALAW_ENCODE: [u8; 65536] = build_encoder(true);

/// µ-law code -> linear sample, computed at compile time.
static ULAW_DECODE: [i16; 256] = build_table(false);
/// A-law code -> linear sample, computed at compile time.
static ALAW_DECODE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_functions() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(Codec::Pcmu.encode_sample(s), ulaw_encode(s));
            assert_eq!(Codec::Pcma.encode_sample(s), alaw_encode(s));
        }
    }

    #[test]
    fn silence_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(Codec::Pcmu.decode_sample(0xFF), 0);
        assert_eq!(Codec::Pcma.decode_sample(0xD5), 8);
    }

    #[test]
    fn round_trip_is_idempotent() {
        // decode(encode(decode(c))) == decode(c) for every code.
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for c in 0..=255u8 {
                let s = codec.decode_sample(c);
                assert_eq!(
                    codec.decode_sample(codec.encode_sample(s)),
                    s,
                    "{codec:?} {c}"
                );
            }
        }
    }

    #[test]
    fn extremes_clip_to_last_segment() {
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }
}

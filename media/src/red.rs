//! RFC 2198 redundant payloads ("RED"), as some phones and gateways send
//! telephone events: each packet carries the current event payload plus
//! copies of the previous ones, so a digit survives the loss of its own
//! packets.
//!
//! Layout (RFC 2198 §3): one 4-byte header per redundant block
//! (`F=1 | block PT (7) | timestamp offset (14) | block length (10)`), then
//! a 1-byte header for the primary block (`F=0 | block PT`), then the block
//! data in the same order, the primary's running to the end of the payload.

use thiserror::Error;

/// One block of a RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The block's payload type (e.g. the telephone-event one).
    pub payload_type: u8,
    /// The block's RTP timestamp: the packet's minus the block's offset.
    pub timestamp: u32,
    /// The block's payload.
    pub payload: &'a [u8],
    /// True for the last block, the packet's own (non-redundant) data.
    pub primary: bool,
}

/// Why a RED payload cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RedError {
    /// The headers run past the end of the payload, or there is no primary
    /// header.
    #[error("RED payload truncated in its block headers")]
    TruncatedHeaders,
    /// The redundant blocks' lengths add up to more than the payload.
    #[error("RED block lengths exceed the payload")]
    TruncatedBlocks,
}

/// Splits a RED payload into its blocks, oldest first, the primary last.
/// `rtp_timestamp` is the RTP header's timestamp (the primary's).
pub fn parse_red(rtp_timestamp: u32, payload: &[u8]) -> Result<Vec<RedBlock<'_>>, RedError> {
    // (payload type, timestamp offset, length); the primary's length is
    // whatever remains.
    let mut headers: Vec<(u8, u32, Option<usize>)> = Vec::new();
    let mut at = 0;
    loop {
        let first = *payload.get(at).ok_or(RedError::TruncatedHeaders)?;
        let payload_type = first & 0x7F;
        if first & 0x80 == 0 {
            headers.push((payload_type, 0, None));
            at += 1;
            break;
        }
        let rest = payload
            .get(at + 1..at + 4)
            .ok_or(RedError::TruncatedHeaders)?;
        let offset = ((rest[0] as u32) << 6) | ((rest[1] as u32) >> 2);
        let length = (((rest[1] & 0x03) as usize) << 8) | rest[2] as usize;
        headers.push((payload_type, offset, Some(length)));
        at += 4;
    }
    let mut blocks = Vec::with_capacity(headers.len());
    for (payload_type, offset, length) in headers {
        let end = match length {
            Some(len) => at + len,
            None => payload.len(),
        };
        let data = payload.get(at..end).ok_or(RedError::TruncatedBlocks)?;
        blocks.push(RedBlock {
            payload_type,
            timestamp: rtp_timestamp.wrapping_sub(offset),
            payload: data,
            primary: length.is_none(),
        });
        at = end;
    }
    Ok(blocks)
}

/// Builds a RED payload (for tests and tools): `redundant` blocks as
/// (payload type, timestamp offset, data), oldest first, then the primary.
pub fn build_red(redundant: &[(u8, u16, &[u8])], primary_pt: u8, primary: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (pt, offset, data) in redundant {
        let offset = (*offset as u32) & 0x3FFF;
        let len = data.len() & 0x3FF;
        out.push(0x80 | (pt & 0x7F));
        out.push((offset >> 6) as u8);
        out.push((((offset & 0x3F) << 2) as u8) | ((len >> 8) as u8));
        out.push((len & 0xFF) as u8);
    }
    out.push(primary_pt & 0x7F);
    for (_, _, data) in redundant {
        out.extend_from_slice(data);
    }
    out.extend_from_slice(primary);
    out
}

/// RED payloads for one event's packets (for tests and tools): each of
/// `payloads` becomes the primary block of a payload that also carries the
/// `depth` previous ones as redundancy, all at offset 0 (the packets of one
/// telephone event share their timestamp).
pub fn red_series(block_pt: u8, payloads: &[[u8; 4]], depth: usize) -> Vec<Vec<u8>> {
    (0..payloads.len())
        .map(|i| {
            let redundant: Vec<(u8, u16, &[u8])> = (i.saturating_sub(depth)..i)
                .map(|j| (block_pt, 0, &payloads[j][..]))
                .collect();
            build_red(&redundant, block_pt, &payloads[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redundant_and_primary_blocks() {
        // One redundant block 320 ticks back (offset 320 = 5 << 6, so the
        // offset bytes are 5 and 0), 4 bytes long, then the primary.
        let payload = [0x80 | 101, 5, 0, 4, 101, 1, 2, 3, 4, 5, 6, 7, 8];
        let blocks = parse_red(10_000, &payload).unwrap();
        assert_eq!(
            blocks,
            vec![
                RedBlock {
                    payload_type: 101,
                    timestamp: 9_680,
                    payload: &[1, 2, 3, 4],
                    primary: false
                },
                RedBlock {
                    payload_type: 101,
                    timestamp: 10_000,
                    payload: &[5, 6, 7, 8],
                    primary: true
                },
            ]
        );
    }

    #[test]
    fn build_and_parse_agree_and_offsets_wrap() {
        let red = build_red(&[(96, 16_383, &[9; 4]), (96, 160, &[7; 4])], 96, &[1; 4]);
        let blocks = parse_red(100, &red).unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].timestamp, 100u32.wrapping_sub(16_383));
        assert_eq!(blocks[1].timestamp, 100u32.wrapping_sub(160));
        assert_eq!(blocks[2].timestamp, 100);
        assert_eq!(blocks[0].payload, &[9; 4]);
        assert_eq!(blocks[1].payload, &[7; 4]);
        assert_eq!(blocks[2].payload, &[1; 4]);
        assert!(blocks[2].primary && !blocks[1].primary);
    }

    #[test]
    fn only_a_primary_block() {
        let blocks = parse_red(5, &[101, 1, 0x8A, 0, 160]).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].payload, &[1, 0x8A, 0, 160]);
    }

    #[test]
    fn truncated_payloads_are_errors() {
        assert_eq!(parse_red(0, &[]), Err(RedError::TruncatedHeaders));
        assert_eq!(
            parse_red(0, &[0x80 | 101, 0]),
            Err(RedError::TruncatedHeaders)
        );
        // Header says 4 bytes of redundancy, only 2 follow.
        assert_eq!(
            parse_red(0, &[0x80 | 101, 0, 0, 4, 101, 1, 2]),
            Err(RedError::TruncatedBlocks)
        );
        // Redundant headers but no primary header.
        assert_eq!(
            parse_red(0, &[0x80 | 101, 0, 0, 0]),
            Err(RedError::TruncatedHeaders)
        );
    }
}

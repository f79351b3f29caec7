//! The classifier: IPv4 and IPv6 (extension headers, fragments) and every error, on packets
//! and on hostile bytes.

use std::sync::LazyLock;

use inet_hdr::{IpInfo, IpVersion, ParseError, Protocol, classify, classify_prefix};
use testkit::packet::TcpPacket;

static IPV4_TCP_SYN: LazyLock<Vec<u8>> = LazyLock::new(|| TcpPacket::syn_v4().build());
static IPV6_TCP_SYN: LazyLock<Vec<u8>> = LazyLock::new(|| TcpPacket::syn_v6().build());

#[test]
fn v4_syn() {
    let i = classify(&IPV4_TCP_SYN).unwrap();
    assert_eq!(
        i,
        IpInfo {
            version: IpVersion::V4,
            l3_len: 20,
            l4_offset: 20,
            protocol: Protocol::TCP,
            fragment: false,
            ipv4_options: false
        }
    );
}

#[test]
fn v4_errors() {
    let mut p = IPV4_TCP_SYN.to_vec();
    p[0] = 0x44;
    assert_eq!(classify(&p), Err(ParseError::BadIhl(4)));
    p[0] = 0x4f; // 60-byte header claimed in a 60-byte packet: fine structurally
    assert!(classify(&p).is_ok());
    assert_eq!(classify(&p[..59]), Err(ParseError::Truncated)); // IHL 15 needs 60 bytes
    p[0] = 0x45;
    assert_eq!(
        classify(&p[..59]),
        Err(ParseError::LengthMismatch {
            header: 60,
            actual: 59
        })
    );
    assert_eq!(classify(&p[..19]), Err(ParseError::Truncated));
    let mut q = IPV4_TCP_SYN.to_vec();
    q.push(0);
    assert_eq!(
        classify(&q),
        Err(ParseError::LengthMismatch {
            header: 60,
            actual: 61
        })
    );
    assert_eq!(classify(&[]), Err(ParseError::Truncated));
}

#[test]
fn v4_fragment_bits() {
    let mut p = IPV4_TCP_SYN.to_vec();
    // MF is 0x20 in byte 6 (not 0x80, which is the reserved bit).
    p[6] = 0x20;
    assert!(classify(&p).unwrap().fragment);
    p[6] = 0x80;
    assert!(!classify(&p).unwrap().fragment);
    p[6] = 0x00;
    p[7] = 0x01;
    assert!(classify(&p).unwrap().fragment);
}

fn with_ext(kinds: &[(u8, usize)], last: u8) -> [u8; 200] {
    // Build an IPv6 packet (no valid checksum needed) with the given extension headers.
    let mut p = [0u8; 200];
    p[..40].copy_from_slice(&IPV6_TCP_SYN[..40]);
    let mut off = 40;
    let mut next_at = 6;
    for &(kind, len) in kinds {
        p[next_at] = kind;
        p[off + 1] = (len / 8 - 1) as u8;
        next_at = off;
        off += len;
    }
    p[next_at] = last;
    let plen = (200 - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p
}

#[test]
fn v6_ext_headers() {
    let p = with_ext(&[(0, 8), (43, 24), (60, 16)], 6);
    let i = classify(&p).unwrap();
    assert_eq!(
        (i.l4_offset, i.protocol, i.fragment),
        (88, Protocol::TCP, false)
    );
    let p = with_ext(&[(60, 8)], 44);
    let i = classify(&p).unwrap();
    assert_eq!(
        (i.l4_offset, i.protocol, i.fragment),
        (48, Protocol::FRAGMENT, true)
    );
    // An extension header claiming more than the packet holds.
    let mut p = with_ext(&[(60, 8)], 6);
    p[41] = 40;
    assert_eq!(classify(&p), Err(ParseError::Truncated));
}

#[test]
fn v6_length() {
    assert_eq!(
        classify(&IPV6_TCP_SYN[..79]),
        Err(ParseError::LengthMismatch {
            header: 80,
            actual: 79
        })
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        if let Ok(i) = classify(&bytes) {
            proptest::prop_assert!(i.l4_offset <= bytes.len());
        }
    }

    /// A packet's prefix reaching its L4 header classifies as the whole packet; a shorter
    /// one is `Truncated` or the same error `classify` gives.
    #[test]
    fn prefix_is_the_packet(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), cut in 0usize..300, v6 in proptest::bool::ANY) {
        let mut bytes = bytes;
        // Give the length field a chance to agree.
        if v6 && bytes.len() >= 40 {
            bytes[0] = 0x60;
            let l = (bytes.len() - 40) as u16;
            bytes[4..6].copy_from_slice(&l.to_be_bytes());
        } else if bytes.len() >= 20 {
            bytes[0] = 0x45;
            let l = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&l.to_be_bytes());
        }
        let whole = classify(&bytes);
        let cut = cut.min(bytes.len());
        let part = classify_prefix(&bytes[..cut], bytes.len());
        match whole {
            Ok(i) if cut >= i.l4_offset => proptest::prop_assert_eq!(part, Ok(i)),
            Ok(_) => proptest::prop_assert_eq!(part, Err(ParseError::Truncated)),
            Err(e) => proptest::prop_assert!(part == Err(e) || part == Err(ParseError::Truncated)),
        }
    }
}

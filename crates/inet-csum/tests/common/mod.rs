//! Shared test helpers: the plain reference sum and a deterministic byte generator.
#![allow(dead_code, unreachable_pub)]

use inet_csum::Impl;

/// RFC 1071 reference: big-endian 16-bit words one at a time (odd last byte padded with a
/// zero low byte), carries folded at the end. Deliberately the textbook loop.
pub fn reference(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        sum += u64::from(data[i]) << 8 | u64::from(data[i + 1]);
        i += 2;
    }
    if i < data.len() {
        sum += u64::from(data[i]) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Every implementation this CPU (or Miri) can run.
pub fn supported() -> Vec<Impl> {
    Impl::ALL.into_iter().filter(|i| i.is_supported()).collect()
}

/// xorshift64*: deterministic bytes without a dependency.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

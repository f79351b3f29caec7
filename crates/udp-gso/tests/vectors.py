#!/usr/bin/env python3
# Regenerates the constants of vectors.rs: python3 crates/udp-gso/tests/vectors.py
# Independent model of Linux USO for test vectors, written from the kernel's arithmetic
# (rule book §5.3): virtio_net_hdr_to_skb's GSO decision, __udp_gso_segment (csum16_sub /
# csum16_add on the 16-bit partial sum, then gso_make_checksum ?: CSUM_MANGLED_0),
# inet_gso_segment / ipv6_gso_segment, and skb_checksum_help for a write passed on unsplit.
import struct

def csum(b):
    """RFC 1071 sum of big-endian words, folded to 16 bits, not inverted."""
    if len(b) % 2: b = b + b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
def fin(s): return (~s) & 0xffff
def csum16_add(c, a):
    # include/net/checksum.h: u16 res = csum + addend; return res + (res < addend).
    r = (c + a) & 0xffff
    return (r + (r < a)) & 0xffff
def csum16_sub(c, a): return csum16_add(c, (~a) & 0xffff)

SRC4 = bytes([10, 0, 0, 1]); DST4 = bytes([10, 0, 0, 2])
SRC6 = bytes.fromhex('fd000000000000000000000000000001')
DST6 = bytes.fromhex('fd000000000000000000000000000002')

def exthdrs(exts):
    """IPv6 extension headers: ('hbh', len) / ('dst', len) with one PadN option, or
    ('rh', segments_left, [addresses]) a type 0 Routing header. Returns (first next header,
    bytes, final destination or None)."""
    out = b''; final = None
    kinds = {'hbh': 0, 'rh': 43, 'dst': 60}
    for k, e in enumerate(exts):
        nh = kinds[exts[k + 1][0]] if k + 1 < len(exts) else 17
        if e[0] == 'rh':
            left, addrs = e[1], e[2]
            h = bytes([nh, 2 * len(addrs), 0, left]) + bytes(4) + b''.join(addrs)
            if left > 0: final = addrs[-1]
        else:
            n = e[1]
            h = bytes([nh, n // 8 - 1, 1, n - 4]) + bytes(n - 4)
        out += h
    return (kinds[exts[0][0]] if exts else 17), out, final

def build(v6, payload, ipid=0x1000, tos=0, frag=0x4000, ipopts=b'', exts=(), len_field=None,
          partial=None):
    """A USO super-packet as a TUN hands it out: the UDP checksum field holds the folded
    pseudo-header sum over the whole UDP length (udp4_hwcsum / udp6_hwcsum_outgoing)."""
    ulen = 8 + len(payload)
    udp = struct.pack('!HHHH', 40000, 4433, ulen if len_field is None else len_field, 0)
    if not v6:
        ihl = 20 + len(ipopts)
        ip = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl // 4, tos, ihl + ulen, ipid, frag, 64, 17,
                         0, SRC4, DST4) + ipopts
        ip = ip[:10] + struct.pack('!H', fin(csum(ip))) + ip[12:]
        pseudo = SRC4 + DST4 + struct.pack('!BBH', 0, 17, ulen)
    else:
        nh, exth, final = exthdrs(list(exts))
        ip = struct.pack('!IHBB', (6 << 28) | (tos << 20) | 0x12345, len(exth) + ulen, nh, 64) \
            + SRC6 + DST6 + exth
        # RFC 8200 §8.1: the sender's pseudo-header has the final destination.
        pseudo = SRC6 + (final or DST6) + struct.pack('!IxxxB', ulen, 17)
    l4 = len(ip)
    pkt = bytearray(ip + udp + payload)
    pkt[l4 + 6:l4 + 8] = struct.pack('!H', csum(pseudo) if partial is None else partial)
    return bytes(pkt), l4

def segment(pkt, v6, l4, mss):
    """What the kernel forwards for a UDP_L4 write with this gso_size."""
    hl = l4 + 8
    pay = pkt[hl:]
    if len(pay) <= mss:
        # virtio_net_hdr_to_skb: not GSO (skb->len - p_off <= gso_size). skb_checksum_help sums
        # the UDP bytes with the partial sum in the field: csum_fold(csum) ?: CSUM_MANGLED_0.
        s = bytearray(pkt)
        s[l4 + 6:l4 + 8] = struct.pack('!H', fin(csum(bytes(s[l4:]))) or 0xffff)
        return [bytes(s)]
    assert len(pay) <= mss * 128, 'virtio_net_hdr_to_skb refuses it'
    uh_len, uh_check = struct.unpack('!HH', pkt[l4 + 4:l4 + 8])
    n = -(-len(pay) // mss)
    out = []
    ipid = struct.unpack('!H', pkt[4:6])[0] if not v6 else 0
    for i in range(n):
        p = pay[i * mss:(i + 1) * mss]
        newlen = 8 + len(p)
        # __udp_gso_segment: the length field swapped inside the partial sum ...
        check = csum16_add(csum16_sub(uh_check, uh_len), newlen)
        udp = pkt[l4:l4 + 4] + struct.pack('!HH', newlen, check)
        # ... then gso_make_checksum over the UDP header (with that value) and the payload.
        c = fin(csum(udp + p)) or 0xffff
        s = bytearray(pkt[:l4]) + udp[:6] + struct.pack('!H', c) + p
        if not v6:
            # inet_gso_segment: tot_len, id = first id + i (u16), ip_send_check.
            ihl = (s[0] & 15) * 4
            s[2:4] = struct.pack('!H', len(s))
            s[4:6] = struct.pack('!H', (ipid + i) & 0xffff)
            s[10:12] = b'\0\0'
            s[10:12] = struct.pack('!H', fin(csum(bytes(s[:ihl]))))
        else:
            # ipv6_gso_segment: payload_len = segment length - 40.
            s[4:6] = struct.pack('!H', len(s) - 40)
        out.append(bytes(s))
    return out

def zero_sums(pkt, v6, l4, mss, pick):
    """Rewrite two payload bytes of each datagram `pick` selects so that its checksum computes
    to zero (stored as 0xffff): zero them, then put the checksum computed over them there."""
    hl = l4 + 8
    pkt = bytearray(pkt)
    n = max(1, -(-(len(pkt) - hl) // mss))
    spots = [i for i in range(n) if pick(i)]
    for i in spots:
        pkt[hl + i * mss:hl + i * mss + 2] = b'\0\0'
    segs = segment(bytes(pkt), v6, l4, mss)
    for i in spots:
        pkt[hl + i * mss:hl + i * mss + 2] = segs[i][l4 + 6:l4 + 8]
    return bytes(pkt)

def emit(name, b):
    print('const %s: &[u8] = &[' % name)
    for i in range(0, len(b), 16):
        print('    ' + ' '.join('0x%02x,' % x for x in b[i:i + 16]))
    print('];\n')

def case(name, v6, payload, mss, **kw):
    pkt, l4 = build(v6, payload, **kw)
    emit(name + '_IN', pkt)
    for i, s in enumerate(segment(pkt, v6, l4, mss)):
        emit('%s_SEG%d' % (name, i), s)

def case_zero(name, v6, payload, mss, pick, **kw):
    pkt, l4 = build(v6, payload, **kw)
    pkt = zero_sums(pkt, v6, l4, mss, pick)
    emit(name + '_IN', pkt)
    for i, s in enumerate(segment(pkt, v6, l4, mss)):
        emit('%s_SEG%d' % (name, i), s)

case('V4_PLAIN', False, bytes(range(0x30, 0x3a)), 4)
case('V4_OPTS_WRAP', False, bytes(range(0x61, 0x6a)), 4, ipid=0xffff, tos=0x02, frag=0,
     ipopts=bytes([1, 1, 1, 0]))
case('V6_PLAIN', True, bytes(range(0xa0, 0xa7)), 3)
case('V6_EXT', True, bytes(range(0xb0, 0xb8)), 3, tos=0x01, exts=[('dst', 8)])
case('V6_ROUTING', True, bytes(range(0xc0, 0xc9)), 4,
     exts=[('hbh', 8), ('rh', 1, [bytes.fromhex('fd000009000000000000000000000001')]),
           ('dst', 8)])
case_zero('V4_ZERO_SPLIT', False, bytes(range(0x30, 0x3a)), 4, lambda i: True)
case('V4_UNSPLIT', False, bytes(range(0x40, 0x45)), 8)
case_zero('V6_ZERO_UNSPLIT', True, bytes(range(0x40, 0x45)), 5, lambda i: True)
case('V4_LEN_FIELD', False, bytes(range(0x50, 0x5a)), 4, len_field=0x1234)
case('V4_PARTIAL_ZERO', False, bytes(range(0x30, 0x3a)), 4, partial=0)

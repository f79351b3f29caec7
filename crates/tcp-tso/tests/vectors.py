#!/usr/bin/env python3
# Regenerates the constants of vectors.rs: python3 crates/tcp-tso/tests/vectors.py
# Independent model of Linux TCP GSO for test vectors, written from the kernel's arithmetic
# (rule book §5.1, §5.4): virtio_net_hdr_to_skb's GSO decision, tcp_gso_segment (checksums
# derived from the sender's partial sum), inet_gso_segment / ipv6_gso_segment, and
# skb_checksum_help for a write passed on unsplit.
import struct
def csum(b):
    if len(b)%2: b=b+b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return s
def fin(s): return (~s)&0xffff
def csum_add(a,b):
    # include/net/checksum.h csum_add: 32-bit add with end-around carry.
    r=(a+b)&0xffffffff
    return r+(r<b)
def fold(s):
    # ~csum_fold(s): the 32-bit sum folded to 16 bits, not inverted.
    s=(s&0xffff)+(s>>16); s=(s&0xffff)+(s>>16)
    return s&0xffff

SRC6=bytes.fromhex('fd000000000000000000000000000001'); DST6=bytes.fromhex('fd000000000000000000000000000002')

def exthdrs(exts):
    """IPv6 extension headers: ('hbh', len) / ('dst', len) with one PadN option, or
    ('rh', segments_left, [addresses]) a type 0 Routing header. Returns (first next header,
    bytes, final destination or None)."""
    out=b''; final=None
    kinds={'hbh':0,'rh':43,'dst':60}
    for k,e in enumerate(exts):
        nh=kinds[exts[k+1][0]] if k+1<len(exts) else 6
        if e[0]=='rh':
            left,addrs=e[1],e[2]
            h=bytes([nh,2*len(addrs),0,left])+bytes(4)+b''.join(addrs)
            if left>0: final=addrs[-1]
        else:
            n=e[1]
            h=bytes([nh,n//8-1,1,n-4])+bytes(n-4)
        out+=h
    return (kinds[exts[0][0]] if exts else 6), out, final

def build(v6, exts, opts, flags, seq, ipid, payload, tos=0, urg=0):
    thl=20+len(opts); assert len(opts)%4==0
    tcp=struct.pack('!HHIIBBHHH',40000,5201,seq,0x0a0b0c0d,(thl//4)<<4,flags,0x01f5,0,urg)+opts
    l4len=thl+len(payload)
    if not v6:
        src=bytes([10,0,0,1]); dst=bytes([10,0,0,2])
        tot=20+l4len
        ip=struct.pack('!BBHHHBBH4s4s',0x45,tos,tot,ipid,0x4000,64,6,0,src,dst)
        ip=ip[:10]+struct.pack('!H',fin(csum(ip)))+ip[12:]
        pseudo=src+dst+struct.pack('!BBH',0,6,l4len)
    else:
        nh,exth,final=exthdrs(exts)
        ip=struct.pack('!IHBB',(6<<28)|(tos<<20)|0x12345,len(exth)+l4len,nh,64)+SRC6+DST6+exth
        # RFC 8200 §8.1: the sender's pseudo-header has the final destination.
        pseudo=SRC6+(final or DST6)+struct.pack('!IxxxB',l4len,6)
    part=csum(pseudo)
    l4off=len(ip)
    pkt=bytearray(ip+tcp+payload)
    pkt[l4off+16:l4off+18]=struct.pack('!H',part)
    return bytes(pkt), l4off

def segment(pkt, v6, l4off, mss):
    """What the kernel forwards: a list of segments, or None when it drops the packet."""
    thl=(pkt[l4off+12]>>4)*4; hl=l4off+thl
    pay=pkt[hl:]; L=len(pkt)-l4off
    P,=struct.unpack('!H',pkt[l4off+16:l4off+18])
    if len(pay)<=mss:
        # virtio_net_hdr_to_skb makes it GSO only if len - (csum_start + 20) > gso_size; then
        # tcp_gso_segment finds len(pay) <= mss and drops it.
        if L-20>mss: return None
        # Not GSO: skb_checksum_help sums the L4 bytes with the partial sum in the field and
        # stores csum_fold(csum) ?: CSUM_MANGLED_0. Nothing else changes.
        s=bytearray(pkt)
        s[l4off+16:l4off+18]=struct.pack('!H',fin(csum(bytes(s[l4off:]))) or 0xffff)
        return [bytes(s)]
    n=-(-len(pay)//mss)
    out=[]
    seq0,=struct.unpack('!I',pkt[l4off+4:l4off+8]); fl0=pkt[l4off+13]
    oldlen=(~L)&0xffffffff
    for i in range(n):
        p=pay[i*mss:(i+1)*mss]
        s=bytearray(pkt[:hl]+p)
        if not v6:
            id0,=struct.unpack('!H',pkt[4:6])
            s[2:4]=struct.pack('!H',len(s)); s[4:6]=struct.pack('!H',(id0+i)&0xffff); s[10:12]=b'\0\0'
            s[10:12]=struct.pack('!H',fin(csum(bytes(s[:l4off]))))
        else:
            s[4:6]=struct.pack('!H',len(s)-40)
        s[l4off+4:l4off+8]=struct.pack('!I',(seq0+i*mss)&0xffffffff)
        f=fl0
        if i+1<n: f&=~0x09
        if i>0: f&=~0x80
        s[l4off+13]=f
        # tcp_gso_segment: newcheck = ~csum_fold(csum_add(csum_unfold(th->check),
        # htonl(oldlen + segment L4 length))), then gso_make_checksum over the segment.
        newcheck=fold(csum_add(P,(oldlen+thl+len(p))&0xffffffff))
        s[l4off+16:l4off+18]=struct.pack('!H',newcheck)
        s[l4off+16:l4off+18]=struct.pack('!H',fin(csum(bytes(s[l4off:]))))
        out.append(bytes(s))
    return out

def zero_sum(pkt, v6, l4off, mss):
    """Rewrite the first two payload bytes of every segment so its checksum sums to zero."""
    pkt=bytearray(pkt); hl=l4off+(pkt[l4off+12]>>4)*4
    n=max(1,-(-(len(pkt)-hl)//mss))
    spots=[(i,hl+i*mss) for i in range(n) if min(mss,len(pkt)-(hl+i*mss))>=2]
    for _,at in spots: pkt[at:at+2]=b'\0\0'
    segs=segment(bytes(pkt),v6,l4off,mss)
    for i,at in spots: pkt[at:at+2]=segs[i][l4off+16:l4off+18]
    return bytes(pkt)

def rs(name, b):
    lines=[]
    for k in range(0,len(b),16):
        lines.append('    '+' '.join('0x%02x,'%x for x in b[k:k+16]))
    return 'const %s: &[u8] = &[\n%s\n];\n'%(name,'\n'.join(lines))

ts=bytes([1,1,8,10])+struct.pack('!II',0x11223344,0x55667788)
A1=bytes.fromhex('fd000000000000000000000000000091'); A2=bytes.fromhex('fd000000000000000000000000000092')
RH=lambda left: [('hbh',8),('rh',left,[A1,A2]),('dst',8)]
cases=[
 # name, v6, exts, opts, flags, seq, ipid, payload, mss, tos, zero sums
 ('V4_PLAIN',False,[],b'',0x18,0x01020304,0x1000,bytes(range(0x30,0x3a)),4,0,False),
 ('V4_OPTS_WRAP',False,[],ts,0x18|0x01|0x80,0xfffffffe,0xffff,bytes(range(0x61,0x6a)),4,0x02,False),
 ('V6_PLAIN',True,[],b'',0x18,0x7fffffff,0,bytes(range(0xa0,0xa7)),3,0,False),
 ('V6_EXT_OPTS',True,[('dst',8)],ts,0x10|0x40|0x80|0x01,0xffffffff,0,bytes(range(0xc0,0xc8)),3,0x01,False),
 ('V4_ZERO_UNSPLIT',False,[],ts,0x18,0x01020304,0x1000,bytes(range(0x30,0x44)),40,0,True),
 ('V4_ZERO_SPLIT',False,[],b'',0x18,0x01020304,0x1000,bytes(range(0x30,0x3a)),4,0,True),
 ('V6_ROUTING',True,RH(1),ts,0x18,0x01020304,0,bytes(range(0x70,0x79)),4,0,False),
 ('V6_ROUTING_ZERO_UNSPLIT',True,RH(2),ts,0x18,0x01020304,0,bytes(range(0x70,0x73)),20,0,True),
 ('V4_DROP',False,[],ts,0x18,0x01020304,0x1000,bytes(range(0x30,0x40)),19,0,False),
]
for name,v6,exts,opts,fl,seq,ipid,pay,mss,tos,zero in cases:
    pkt,l4=build(v6,exts,opts,fl,seq,ipid,pay,tos)
    if zero: pkt=zero_sum(pkt,v6,l4,mss)
    segs=segment(pkt,v6,l4,mss)
    print('/// mss %d, csum_start %d%s'%(mss,l4,'' if segs is not None else '; the kernel drops it'))
    print(rs(name+'_IN',pkt))
    for i,s in enumerate(segs or []):
        if zero:
            assert s[l4+16:l4+18]==(b'\xff\xff' if len(segs)==1 else b'\0\0')
        print(rs('%s_SEG%d'%(name,i),s))

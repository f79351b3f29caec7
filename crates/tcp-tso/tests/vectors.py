#!/usr/bin/env python3
# Regenerates the constants of vectors.rs: python3 crates/tcp-tso/tests/vectors.py
# Independent model of Linux TCP GSO (tcp_gso_segment + inet/ipv6_gso_segment) for test vectors.
import struct
def csum(b):
    if len(b)%2: b=b+b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return s
def fin(s): return (~s)&0xffff

def build(v6, ext, opts, flags, seq, ipid, payload, tos=0, urg=0):
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
        src=bytes.fromhex('fd000000000000000000000000000001'); dst=bytes.fromhex('fd000000000000000000000000000002')
        exth=b''
        nh=6
        if ext:
            exth=bytes([6,ext//8-1,1,ext-4])+bytes(ext-4); nh=60
        ip=struct.pack('!IHBB',(6<<28)|(tos<<20)|0x12345,len(exth)+l4len,nh,64)+src+dst+exth
        pseudo=src+dst+struct.pack('!IxxxB',l4len,6)
    part=csum(pseudo)
    l4off=len(ip)
    pkt=bytearray(ip+tcp+payload)
    pkt[l4off+16:l4off+18]=struct.pack('!H',part)
    return bytes(pkt), l4off

def segment(pkt, v6, l4off, mss):
    thl=(pkt[l4off+12]>>4)*4; hl=l4off+thl
    pay=pkt[hl:]; n=max(1,-(-len(pay)//mss))
    out=[]
    seq0,=struct.unpack('!I',pkt[l4off+4:l4off+8]); fl0=pkt[l4off+13]
    for i in range(n):
        p=pay[i*mss:(i+1)*mss]
        s=bytearray(pkt[:hl]+p)
        L=len(s)
        if not v6:
            id0,=struct.unpack('!H',pkt[4:6])
            s[2:4]=struct.pack('!H',L); s[4:6]=struct.pack('!H',(id0+i)&0xffff); s[10:12]=b'\0\0'
            s[10:12]=struct.pack('!H',fin(csum(bytes(s[:l4off]))))
            pseudo=bytes(s[12:20])+struct.pack('!BBH',0,6,L-l4off)
        else:
            s[4:6]=struct.pack('!H',L-40)
            pseudo=bytes(s[8:40])+struct.pack('!IxxxB',L-l4off,6)
        s[l4off+4:l4off+8]=struct.pack('!I',(seq0+i*mss)&0xffffffff)
        f=fl0
        if i+1<n: f&=~0x09
        if i>0: f&=~0x80
        s[l4off+13]=f
        s[l4off+16:l4off+18]=b'\0\0'
        s[l4off+16:l4off+18]=struct.pack('!H',fin(csum(pseudo+bytes(s[l4off:]))))
        out.append(bytes(s))
    return out

def rs(name, b):
    lines=[]
    for k in range(0,len(b),16):
        lines.append('    '+' '.join('0x%02x,'%x for x in b[k:k+16]))
    return 'const %s: &[u8] = &[\n%s\n];\n'%(name,'\n'.join(lines))

ts=bytes([1,1,8,10])+struct.pack('!II',0x11223344,0x55667788)
cases=[
 # name, v6, ext, opts, flags, seq, ipid, payload, mss, tos
 ('V4_PLAIN',False,0,b'',0x18,0x01020304,0x1000,bytes(range(0x30,0x3a)),4,0),
 ('V4_OPTS_WRAP',False,0,ts,0x18|0x01|0x80,0xfffffffe,0xffff,bytes(range(0x61,0x6a)),4,0x02),
 ('V6_PLAIN',True,0,b'',0x18,0x7fffffff,0,bytes(range(0xa0,0xa7)),3,0),
 ('V6_EXT_OPTS',True,8,ts,0x10|0x40|0x80|0x01,0xffffffff,0,bytes(range(0xc0,0xc8)),3,0x01),
]
for name,v6,ext,opts,fl,seq,ipid,pay,mss,tos in cases:
    pkt,l4=build(v6,ext,opts,fl,seq,ipid,pay,tos)
    print('/// mss %d, csum_start %d'%(mss,l4))
    print(rs(name+'_IN',pkt))
    for i,s in enumerate(segment(pkt,v6,l4,mss)):
        print(rs('%s_SEG%d'%(name,i),s))

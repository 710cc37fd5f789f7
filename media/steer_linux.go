package media

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Steering on Linux: a BPF sk_lookup program (kernel 5.9 and later),
// attached to the process's network namespace, looks up every UDP datagram's
// local address and port in the Poller's SOCKHASH map before the kernel
// picks a socket for it; a hit assigns it to the socket in the map, the
// shared socket of the worker that serves the stream. The map holds the
// exact local address of each registered stream, or the unspecified address
// for a wildcard-bound one, so the program never takes a datagram for an
// address the Poller does not serve. A miss, or any failure, leaves the
// datagram to the kernel's usual lookup: the stream's own socket, which the
// worker still reads.

// steerKey is the SOCKHASH key: the local port and address family, then
// the local address (network byte order; IPv4 in the first 4 bytes),
// exactly as the program builds it from struct bpf_sk_lookup.
type steerKey struct {
	portFamily uint32 // port | family<<16, host byte order
	addr       [16]byte
}

const (
	steerKeySize    = 20
	steerMapEntries = 1 << 17

	// struct bpf_sk_lookup field offsets (include/uapi/linux/bpf.h).
	skLookupFamily   = 8
	skLookupProtocol = 12
	skLookupLocalIP4 = 40
	skLookupLocalIP6 = 44
	skLookupPort     = 60

	bpfFuncMapLookupElem = 1
	bpfFuncSkRelease     = 86
	bpfFuncSkAssign      = 124
	bpfMapTypeSockhash   = 18
	bpfPseudoMapFD       = 1
	skPass               = 1
)

func makeSteerKey(local netip.AddrPort) steerKey {
	a := local.Addr().Unmap()
	k := steerKey{}
	if a.Is4() {
		k.portFamily = uint32(local.Port()) | unix.AF_INET<<16
		a4 := a.As4()
		copy(k.addr[:4], a4[:])
	} else {
		k.portFamily = uint32(local.Port()) | unix.AF_INET6<<16
		k.addr = a.As16()
	}
	return k
}

// steerer is a Poller's BPF program, its link to the network namespace and
// its map.
type steerer struct {
	mu     sync.Mutex // guards the descriptors against close
	mapFD  int
	progFD int
	linkFD int
}

// bpfInsn is one eBPF instruction.
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

// bpfAsm assembles a program with forward jumps to labels.
type bpfAsm struct {
	insns  []bpfInsn
	labels map[string]int
	fixups map[int]string
}

func (a *bpfAsm) op(code, dst, src uint8, off int16, imm int32) {
	a.insns = append(a.insns, bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm})
}

func (a *bpfAsm) jump(code, dst uint8, imm int32, label string) {
	a.fixups[len(a.insns)] = label
	a.op(code, dst, 0, 0, imm)
}

func (a *bpfAsm) label(name string) { a.labels[name] = len(a.insns) }

func (a *bpfAsm) loadMap(dst uint8, fd int) {
	a.op(0x18, dst, bpfPseudoMapFD, 0, int32(fd)) // ld_imm64, two slots
	a.op(0, 0, 0, 0, 0)
}

func (a *bpfAsm) done() []bpfInsn {
	for at, l := range a.fixups {
		a.insns[at].off = int16(a.labels[l] - at - 1)
	}
	return a.insns
}

// eBPF opcodes used here.
const (
	bpfMovX    = 0xbf // dst = src (64)
	bpfMovK    = 0xb7 // dst = imm
	bpfAddK    = 0x07 // dst += imm
	bpfLshK    = 0x67 // dst <<= imm
	bpfOrX     = 0x4f // dst |= src
	bpfLdxW    = 0x61 // dst = *(u32 *)(src + off)
	bpfStxW    = 0x63 // *(u32 *)(dst + off) = src
	bpfStW     = 0x62 // *(u32 *)(dst + off) = imm
	bpfJa      = 0x05
	bpfJeqK    = 0x15
	bpfJneK    = 0x55
	bpfCallOp  = 0x85
	bpfExit    = 0x95
	r0, r1, r2 = 0, 1, 2
	r3, r4     = 3, 4
	r6, r7     = 6, 7
	r10        = 10
)

// steerProgram returns the sk_lookup program over the map mapFD:
//
//	if proto != UDP: pass
//	key = {port | family<<16, local address}
//	sk = lookup(key) ?: lookup({port | family<<16, unspecified})
//	if sk: assign(sk); release(sk)
//	pass
func steerProgram(mapFD int) []bpfInsn {
	a := &bpfAsm{labels: map[string]int{}, fixups: map[int]string{}}
	a.op(bpfMovX, r6, r1, 0, 0)
	a.op(bpfLdxW, r2, r6, skLookupProtocol, 0)
	a.jump(bpfJneK, r2, unix.IPPROTO_UDP, "pass")
	a.op(bpfLdxW, r2, r6, skLookupPort, 0)
	a.op(bpfLdxW, r3, r6, skLookupFamily, 0)
	a.op(bpfMovX, r4, r3, 0, 0)
	a.op(bpfLshK, r3, 0, 0, 16)
	a.op(bpfOrX, r2, r3, 0, 0)
	a.op(bpfStxW, r10, r2, -20, 0)
	a.jump(bpfJneK, r4, unix.AF_INET, "v6")
	a.op(bpfLdxW, r2, r6, skLookupLocalIP4, 0)
	a.op(bpfStxW, r10, r2, -16, 0)
	for off := int16(-12); off < 0; off += 4 {
		a.op(bpfStW, r10, 0, off, 0)
	}
	a.jump(bpfJa, 0, 0, "lookup")
	a.label("v6")
	a.jump(bpfJneK, r4, unix.AF_INET6, "pass")
	for i := int16(0); i < 4; i++ {
		a.op(bpfLdxW, r2, r6, skLookupLocalIP6+4*i, 0)
		a.op(bpfStxW, r10, r2, -16+4*i, 0)
	}
	a.label("lookup")
	a.loadMap(r1, mapFD)
	a.op(bpfMovX, r2, r10, 0, 0)
	a.op(bpfAddK, r2, 0, 0, -20)
	a.op(bpfCallOp, 0, 0, 0, bpfFuncMapLookupElem)
	a.jump(0x55, r0, 0, "assign") // if r0 != 0
	for off := int16(-16); off < 0; off += 4 {
		a.op(bpfStW, r10, 0, off, 0)
	}
	a.loadMap(r1, mapFD)
	a.op(bpfMovX, r2, r10, 0, 0)
	a.op(bpfAddK, r2, 0, 0, -20)
	a.op(bpfCallOp, 0, 0, 0, bpfFuncMapLookupElem)
	a.jump(bpfJeqK, r0, 0, "pass")
	a.label("assign")
	a.op(bpfMovX, r7, r0, 0, 0)
	a.op(bpfMovX, r1, r6, 0, 0)
	a.op(bpfMovX, r2, r7, 0, 0)
	a.op(bpfMovK, r3, 0, 0, 0)
	a.op(bpfCallOp, 0, 0, 0, bpfFuncSkAssign)
	a.op(bpfMovX, r1, r7, 0, 0)
	a.op(bpfCallOp, 0, 0, 0, bpfFuncSkRelease)
	a.label("pass")
	a.op(bpfMovK, r0, 0, 0, skPass)
	a.op(bpfExit, 0, 0, 0, 0)
	return a.done()
}

// The bpf(2) attributes used here, on 64-bit systems (steering is off on
// others): pointers are unsafe.Pointer fields, so that the objects they
// point to stay where they are, and alive, for the call.
type bpfMapCreateAttr struct {
	mapType, keySize, valueSize, maxEntries, mapFlags uint32
	_                                                 [44]byte
}

type bpfProgLoadAttr struct {
	progType, insnCnt  uint32
	insns, license     unsafe.Pointer
	logLevel, logSize  uint32
	logBuf             unsafe.Pointer
	kernVersion, flags uint32
	name               [16]byte
	ifindex            uint32
	expectedAttachType uint32
	_                  [32]byte
}

type bpfMapElemAttr struct {
	mapFD      uint32
	_          uint32
	key, value unsafe.Pointer
	flags      uint64
}

type bpfLinkCreateAttr struct {
	progFD, targetFD, attachType, flags uint32
	_                                   [32]byte
}

func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// newSteerer loads the program and attaches it to the network namespace.
// It fails without CAP_BPF and CAP_NET_ADMIN, on kernels before 5.9, and on
// 32-bit systems.
func newSteerer() (*steerer, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return nil, fmt.Errorf("steering needs a 64-bit system: %w", errors.ErrUnsupported)
	}
	ma := &bpfMapCreateAttr{mapType: bpfMapTypeSockhash, keySize: steerKeySize, valueSize: 8, maxEntries: steerMapEntries}
	mapFD, err := bpfCall(unix.BPF_MAP_CREATE, unsafe.Pointer(ma), unsafe.Sizeof(*ma))
	if err != nil {
		return nil, fmt.Errorf("creating the BPF map: %w", err)
	}
	s := &steerer{mapFD: mapFD, progFD: -1, linkFD: -1}
	prog := steerProgram(mapFD)
	license := []byte("GPL\x00") // sk_assign is a GPL-only helper
	logBuf := make([]byte, 1<<14)
	pa := &bpfProgLoadAttr{progType: unix.BPF_PROG_TYPE_SK_LOOKUP, insnCnt: uint32(len(prog)),
		insns: unsafe.Pointer(&prog[0]), license: unsafe.Pointer(&license[0]),
		logLevel: 1, logSize: uint32(len(logBuf)), logBuf: unsafe.Pointer(&logBuf[0]),
		expectedAttachType: unix.BPF_SK_LOOKUP}
	copy(pa.name[:], "voicegw_rtp")
	s.progFD, err = bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(pa), unsafe.Sizeof(*pa))
	if err != nil {
		s.close()
		if n := clen(logBuf); n > 0 && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL)) {
			return nil, fmt.Errorf("loading the BPF sk_lookup program: %w: %s", err, logBuf[:min(n, 512)])
		}
		return nil, fmt.Errorf("loading the BPF sk_lookup program: %w", err)
	}
	ns, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("opening the network namespace: %w", err)
	}
	la := &bpfLinkCreateAttr{progFD: uint32(s.progFD), targetFD: uint32(ns), attachType: unix.BPF_SK_LOOKUP}
	s.linkFD, err = bpfCall(unix.BPF_LINK_CREATE, unsafe.Pointer(la), unsafe.Sizeof(*la))
	_ = unix.Close(ns)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("attaching the BPF sk_lookup program: %w", err)
	}
	return s, nil
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// set makes datagrams for key go to socket fd.
func (s *steerer) set(key steerKey, fd int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mapFD < 0 {
		return errPollerClosed()
	}
	v := uint64(fd)
	a := &bpfMapElemAttr{mapFD: uint32(s.mapFD), key: unsafe.Pointer(&key), value: unsafe.Pointer(&v), flags: unix.BPF_NOEXIST}
	_, err := bpfCall(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(a), unsafe.Sizeof(*a))
	return err
}

// del stops steering key.
func (s *steerer) del(key steerKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mapFD < 0 {
		return
	}
	a := &bpfMapElemAttr{mapFD: uint32(s.mapFD), key: unsafe.Pointer(&key)}
	_, _ = bpfCall(unix.BPF_MAP_DELETE_ELEM, unsafe.Pointer(a), unsafe.Sizeof(*a))
}

// close detaches the program: the kernel's lookup picks the sockets again.
func (s *steerer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range []*int{&s.linkFD, &s.progFD, &s.mapFD} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// sharedSocket is a worker's socket that the steered datagrams of one
// address family go to.
type sharedSocket struct {
	fd int
	// demux maps a local port to the slot of the stream bound to it, plus
	// one; 0: none.
	demux *[1 << 16]int32
}

// newSharedSocket opens a worker's shared socket for family, bound to the
// loopback address (the program assigns datagrams whatever address they
// were sent to), reporting each datagram's original destination.
func newSharedSocket(family int) (*sharedSocket, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// Room for bursts: every stream of the worker shares this buffer.
	// SO_RCVBUFFORCE passes net.core.rmem_max (CAP_NET_ADMIN, which
	// steering needs anyway).
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sharedRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sharedRcvBuf)
	}
	// Each datagram's arrival as the kernel saw it (controlOf): a worker
	// that reads the socket late still places the audio by when it came.
	// Without it, the time of the read.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVORIGDSTADDR, 1)
		sa = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	} else {
		if err = unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_V6ONLY, 1); err == nil {
			err = unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_RECVORIGDSTADDR, 1)
		}
		sa = &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return &sharedSocket{fd: fd, demux: new([1 << 16]int32)}, nil
}

// sharedRcvBuf is the receive buffer asked for a shared socket (the kernel
// doubles it): a 20 ms packet of G.711 takes about 830 bytes of it on
// Linux, so 128 MiB hold 160,000 packets, 0.4 s of 4,000 calls. A worker
// that falls that far behind (a stall of the process) loses what comes
// next; a stream's own socket held 255 packets, 5 s of that stream.
const sharedRcvBuf = 64 << 20

// controlOf reads a shared socket's control messages, the first n bytes
// of oob: the datagram's original destination (IP_ORIGDSTADDR,
// IPV6_ORIGDSTADDR; ok false without one) and its receive time
// (SO_TIMESTAMPNS; zero without one). One pass over the messages.
func controlOf(oob []byte, n int) (dst netip.AddrPort, at time.Time, ok bool) {
	for n >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > n {
			break
		}
		data := oob[unix.SizeofCmsghdr:l]
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			at = time.Unix(int64(ts.Sec), int64(ts.Nsec))
		case h.Level == unix.SOL_IP && h.Type == unix.IP_ORIGDSTADDR && len(data) >= unix.SizeofSockaddrInet4:
			sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&data[0]))
			p := (*[2]byte)(unsafe.Pointer(&sa.Port))
			dst, ok = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1])), true
		case h.Level == unix.SOL_IPV6 && h.Type == unix.IPV6_ORIGDSTADDR && len(data) >= unix.SizeofSockaddrInet6:
			sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&data[0]))
			p := (*[2]byte)(unsafe.Pointer(&sa.Port))
			dst, ok = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1])), true
		}
		al := (l + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)
		if al >= n {
			break
		}
		oob, n = oob[al:], n-al
	}
	return dst, at, ok
}

package sip

import (
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSocket lets a PacketConn's readers wait for datagrams in the
// kernel, each blocked in recvmmsg(2) on the socket as Kamailio's UDP
// worker processes are: the kernel wakes one waiting reader per datagram.
// Through Go's network poller, a reader that finds the socket empty parks
// and is woken by epoll, and readers of one socket take turns on its lock:
// each datagram cost a failed read, an epoll_wait and a hand-over between
// goroutines more (measured, registrar under sipp: see BENCHMARKS.md).
//
// It takes the socket over: it reads and writes a duplicate of the
// socket's descriptor and closes the wrapped connection, which takes the
// socket out of Go's network poller. Left in it, every datagram arriving
// woke the poller's idle thread from epoll_wait for an event nobody waits
// for — one epoll_wait and a scheduler round per datagram, 15% of the
// registrar's CPU under sipp (BENCHMARKS.md). The duplicate stays open
// until the PacketConn is closed and the last reader and writer are done
// with it (refs), so a descriptor number closed and reused elsewhere is
// never read or written. The socket is put in blocking mode with a
// receive timeout of one second, after which a reader looks whether the
// PacketConn was closed; close also shuts reading down, which wakes the
// readers at once. A UDP send blocks only while the send buffer is full.
type kernelSocket struct {
	fd      int
	inet6   bool // the socket is AF_INET6: IPv4 destinations as mapped addresses
	closing atomic.Bool
	// refs counts the users of fd: one per reader still running, one per
	// send in progress, and one for the PacketConn until it is closed.
	// Whoever drops it to zero closes fd.
	refs atomic.Int32
	// reads counts the readers' recvmmsg calls, sends the sendto and
	// sendmmsg calls (for tests).
	reads, sends atomic.Uint64
}

// newKernelSocket prepares u's socket for readers blocking in the
// kernel and closes u, or returns nil, u untouched, when it cannot
// (readers then use Go's poller).
func newKernelSocket(u *net.UDPConn, readers int) *kernelSocket {
	rc, err := u.SyscallConn()
	if err != nil {
		return nil
	}
	k := &kernelSocket{fd: -1}
	cerr := rc.Control(func(fd uintptr) {
		nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return
		}
		sa, err := unix.Getsockname(nfd)
		if err != nil {
			_ = unix.Close(nfd)
			return
		}
		_, k.inet6 = sa.(*unix.SockaddrInet6)
		if unix.SetNonblock(nfd, false) != nil ||
			unix.SetsockoptTimeval(nfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}) != nil {
			_ = unix.SetNonblock(nfd, true)
			_ = unix.Close(nfd)
			return
		}
		k.fd = nfd
	})
	if cerr != nil || k.fd < 0 {
		return nil
	}
	k.refs.Store(int32(readers) + 1)
	// out of Go's poller: net's Close removes the descriptor from epoll
	// (the duplicate, never registered, keeps the socket open)
	_ = u.Close()
	return k
}

// kernelBatch is the most datagrams one recvmmsg(2) of a reader takes.
const kernelBatch = 8

// kernelReader is one reader's receive batch: it blocks in recvmmsg(2)
// until a datagram comes and takes, in the same call, up to kernelBatch
// of those already queued behind it (MSG_WAITFORONE), then hands them out
// one by one. Idle, a call brings one datagram, as recvfrom(2) would;
// under load, one system call where there were several.
//
// It also holds the reader's answers (queue) until the batch is spent,
// and sends them with one sendmmsg(2) before it reads again: idle, one
// answer and one system call, as sendto(2) was; under load, one call
// for the batch's answers.
type kernelReader struct {
	k       *kernelSocket
	msgs    []unix.Mmsghdr
	iovs    []unix.Iovec
	names   []unix.RawSockaddrAny
	bufs    [][]byte
	n, next int       // datagrams in the batch, and the next to hand out
	yielded time.Time // when the reader last yielded to the scheduler

	out kernelAnswers
}

// kernelAnswers are the answers a reader queued, up to kernelBatch; a
// slot's buffer is kept (and grown) from one batch to the next.
type kernelAnswers struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte
	n     int
	// failed counts the answers the kernel refused since the reader
	// last asked (sendFailures), err is the last refusal.
	failed int
	err    error
}

// kernelAnswerKeep is the largest answer buffer a reader keeps for the
// next batch.
const kernelAnswerKeep = 64 << 10

// kernelSlot is the size of a reader's buffer per datagram: more than the
// largest UDP payload, so none is cut.
const kernelSlot = 65536

func (k *kernelSocket) newReader() *kernelReader {
	r := &kernelReader{k: k, msgs: make([]unix.Mmsghdr, kernelBatch), iovs: make([]unix.Iovec, kernelBatch),
		names: make([]unix.RawSockaddrAny, kernelBatch), bufs: make([][]byte, kernelBatch)}
	slab := make([]byte, kernelBatch*kernelSlot)
	for i := range kernelBatch {
		r.bufs[i] = slab[i*kernelSlot : (i+1)*kernelSlot : (i+1)*kernelSlot]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(kernelSlot)
		r.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.msgs[i].Hdr.Iov = &r.iovs[i]
		r.msgs[i].Hdr.SetIovlen(1)
	}
	o := &r.out
	o.msgs, o.iovs = make([]unix.Mmsghdr, kernelBatch), make([]unix.Iovec, kernelBatch)
	o.names, o.bufs = make([]unix.RawSockaddrAny, kernelBatch), make([][]byte, kernelBatch)
	for i := range kernelBatch {
		o.bufs[i] = make([]byte, 0, 2048)
		o.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&o.names[i]))
		o.msgs[i].Hdr.Iov = &o.iovs[i]
		o.msgs[i].Hdr.SetIovlen(1)
	}
	return r
}

// queue copies msg, an answer for dst, to be sent with the batch's other
// answers when the batch is spent (recv); with kernelBatch answers
// queued already, those are sent first.
func (r *kernelReader) queue(msg []byte, dst netip.AddrPort) error {
	if len(msg) == 0 {
		return nil
	}
	o := &r.out
	i := o.n
	if !putSockaddr(&o.names[i], r.k.inet6, dst) {
		return &net.OpError{Op: "write", Net: "udp", Err: syscall.EAFNOSUPPORT}
	}
	o.bufs[i] = append(o.bufs[i][:0], msg...)
	o.n++
	if o.n == len(o.msgs) {
		r.flush()
	}
	return nil
}

// flush sends the queued answers: one sendto(2) for one, one sendmmsg(2)
// for several (more when the kernel takes only some at a time). An
// answer the kernel refuses is counted (sendFailures) and skipped.
func (r *kernelReader) flush() {
	o := &r.out
	if o.n == 0 {
		return
	}
	defer func() {
		for i := range o.n {
			if cap(o.bufs[i]) > kernelAnswerKeep {
				o.bufs[i] = make([]byte, 0, 2048)
			}
		}
		o.n = 0
	}()
	if r.k.closing.Load() {
		o.failed += o.n
		o.err = &net.OpError{Op: "write", Net: "udp", Err: net.ErrClosed}
		return
	}
	for i := range o.n {
		o.iovs[i].Base = unsafe.SliceData(o.bufs[i])
		o.iovs[i].SetLen(len(o.bufs[i]))
		o.msgs[i].Hdr.Namelen = sockaddrLen(r.k.inet6)
		o.msgs[i].Len = 0
	}
	for i := 0; i < o.n; {
		r.k.sends.Add(1)
		var (
			sent  uintptr
			errno syscall.Errno
		)
		if o.n-i == 1 {
			_, _, errno = syscall.Syscall6(unix.SYS_SENDTO, uintptr(r.k.fd), uintptr(unsafe.Pointer(o.iovs[i].Base)), uintptr(o.iovs[i].Len),
				0, uintptr(unsafe.Pointer(&o.names[i])), uintptr(sockaddrLen(r.k.inet6)))
			sent = 1
		} else {
			sent, _, errno = syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(r.k.fd), uintptr(unsafe.Pointer(&o.msgs[i])), uintptr(o.n-i), 0, 0, 0)
		}
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			// sendmmsg reports an error only when the first message
			// failed: skip that one
			o.failed++
			o.err = &net.OpError{Op: "write", Net: "udp", Err: errno}
			i++
		default:
			i += max(int(sent), 1)
		}
	}
}

// sendFailures returns how many queued answers the kernel refused since
// the last call, and the last refusal.
func (r *kernelReader) sendFailures() (int, error) {
	o := &r.out
	n, err := o.failed, o.err
	o.failed, o.err = 0, nil
	return n, err
}

// recv returns the next datagram, valid until the next call, blocking in
// the kernel when the batch is spent, after sending the answers queued
// meanwhile; after close it returns net.ErrClosed.
func (r *kernelReader) recv() ([]byte, netip.AddrPort, error) {
	for {
		for r.next < r.n {
			i := r.next
			r.next++
			n := int(r.msgs[i].Len)
			src := addrPortOfRaw(&r.names[i])
			if n == 0 || !src.IsValid() {
				continue // an empty datagram, or no address to answer
			}
			return r.bufs[i][:n], src, nil
		}
		r.flush()
		// A reader blocking in the kernel never parks, so to the
		// scheduler it runs without a break: after 10 ms, Go's sysmon
		// takes its processor away in the middle of a read, hands it to
		// another thread, and goes back to waking every 20 µs — 600
		// wake-ups a second, 7% of the registrar's CPU under sipp
		// (BENCHMARKS.md). Yielding now and then is a scheduling round
		// instead, and sysmon sleeps its 10 ms. Looked at once a batch,
		// not once a datagram.
		if now := time.Now(); now.Sub(r.yielded) >= readerYieldInterval {
			r.yielded = now
			runtime.Gosched()
		}
		for i := range r.msgs {
			r.msgs[i].Hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
			r.msgs[i].Hdr.Flags = 0
			r.msgs[i].Len = 0
		}
		r.k.reads.Add(1)
		n, _, errno := syscall.Syscall6(unix.SYS_RECVMMSG, uintptr(r.k.fd), uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)),
			unix.MSG_WAITFORONE, 0, 0)
		if r.k.closing.Load() {
			return nil, netip.AddrPort{}, net.ErrClosed
		}
		switch errno {
		case 0:
			r.n, r.next = int(n), 0
		case syscall.EAGAIN, syscall.EINTR:
			r.n, r.next = 0, 0 // the receive timeout: look at closing again
		default:
			r.n, r.next = 0, 0
			return nil, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: errno}
		}
	}
}

// send writes msg to dst; after close it returns net.ErrClosed.
func (k *kernelSocket) send(msg []byte, dst netip.AddrPort) error {
	if len(msg) == 0 {
		return nil
	}
	for {
		n := k.refs.Load()
		if n <= 0 || k.closing.Load() {
			return &net.OpError{Op: "write", Net: "udp", Err: net.ErrClosed}
		}
		if k.refs.CompareAndSwap(n, n+1) {
			break
		}
	}
	defer k.release()
	var sa unix.RawSockaddrAny
	if !putSockaddr(&sa, k.inet6, dst) {
		return &net.OpError{Op: "write", Net: "udp", Err: syscall.EAFNOSUPPORT}
	}
	k.sends.Add(1)
	_, _, errno := syscall.Syscall6(unix.SYS_SENDTO, uintptr(k.fd), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)),
		0, uintptr(unsafe.Pointer(&sa)), uintptr(sockaddrLen(k.inet6)))
	if errno != 0 {
		return &net.OpError{Op: "write", Net: "udp", Err: errno}
	}
	return nil
}

// close wakes the readers and makes them return; the last user of the
// duplicate descriptor closes it. It reports whether it was the first
// call.
func (k *kernelSocket) close() bool {
	if k.closing.Swap(true) {
		return false
	}
	_ = unix.Shutdown(k.fd, unix.SHUT_RD)
	k.release()
	return true
}

// readerDone is called by each reader as it returns.
func (k *kernelSocket) readerDone() { k.release() }

// release drops one reference to fd, closing it with the last.
func (k *kernelSocket) release() {
	if k.refs.Add(-1) == 0 {
		_ = unix.Close(k.fd)
	}
}

// putSockaddr writes dst into sa for a socket of the family inet6 says:
// an IPv4 destination as a mapped address on an AF_INET6 socket; it
// reports false for an IPv6 destination on an AF_INET socket.
func putSockaddr(sa *unix.RawSockaddrAny, inet6 bool, dst netip.AddrPort) bool {
	if inet6 {
		sa6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		*sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.Addr().As16()}
		putPort(&sa6.Port, dst.Port())
		return true
	}
	a := dst.Addr().Unmap()
	if !a.Is4() {
		return false
	}
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
	putPort(&sa4.Port, dst.Port())
	return true
}

// sockaddrLen is the length of the sockaddr putSockaddr writes.
func sockaddrLen(inet6 bool) uint32 {
	if inet6 {
		return unix.SizeofSockaddrInet6
	}
	return unix.SizeofSockaddrInet4
}

// putPort stores p in network byte order into a sockaddr's port field.
func putPort(field *uint16, p uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(p>>8), byte(p)
}

// addrPortOfRaw reads an AF_INET or AF_INET6 sockaddr; IPv4-mapped
// addresses are kept as they are (the caller unmaps).
func addrPortOfRaw(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		b := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(b[0])<<8|uint16(b[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		b := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(b[0])<<8|uint16(b[1]))
	}
	return netip.AddrPort{}
}

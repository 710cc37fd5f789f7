package media

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchState is the sendmmsg state of a BatchWriter.
type batchState struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	inet6 bool // the socket is AF_INET6
	// The RawConn.Write callback, made once, and its arguments and
	// results: messages [off, n) in, sent and errno out.
	writeFn      func(fd uintptr) bool
	off, n, sent int
	errno        unix.Errno
}

func (b *BatchWriter) init() {
	b.msgs = make([]unix.Mmsghdr, batchDatagrams)
	b.iovs = make([]unix.Iovec, batchDatagrams)
	b.names = make([]unix.RawSockaddrInet6, batchDatagrams)
	// The socket's family decides how destinations are written: Go binds
	// "udp" on the unspecified address as a dual-stack AF_INET6 socket.
	_ = b.rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		_, b.inet6 = sa.(*unix.SockaddrInet6)
		if err != nil {
			b.inet6 = false
		}
	})
	for i := range b.msgs {
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
	}
	b.writeFn = b.sendmmsg
}

// sendmmsg is the RawConn.Write callback of send.
func (b *BatchWriter) sendmmsg(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[b.off])), uintptr(b.n-b.off), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false // wait for room
	}
	b.sent, b.errno = int(r), e
	return true
}

// send sends the queue with sendmmsg, waiting in Go's network poller while
// the socket's send buffer is full; b.mu is held. A datagram the kernel
// refuses is recorded (the first failure) and skipped.
func (b *BatchWriter) send() {
	n := 0
	for _, q := range b.queue {
		if b.fill(n, q) {
			n++
		} else {
			b.fail(q.to, unix.EAFNOSUPPORT)
		}
	}
	b.n = n
	for b.off = 0; b.off < n; {
		b.sent, b.errno = 0, 0
		err := b.rc.Write(b.writeFn)
		switch {
		case err != nil: // the socket is closed
			b.fail(sockaddrAddrPort(&b.names[b.off]), err)
			return
		case b.errno == unix.EINTR:
		case b.errno != 0:
			// sendmmsg fails only when its first datagram fails: that one
			// is skipped.
			b.fail(sockaddrAddrPort(&b.names[b.off]), os.NewSyscallError("sendmmsg", b.errno))
			b.off++
		default:
			b.off += b.sent
		}
	}
}

// fill sets message i for queued datagram q; false when its address cannot
// be sent to from this socket.
func (b *BatchWriter) fill(i int, q queued) bool {
	b.iovs[i].Base = nil // an empty datagram
	if q.n > 0 {
		b.iovs[i].Base = &b.slab[q.off]
	}
	b.iovs[i].SetLen(q.n)
	sa := &b.names[i]
	ip := q.to.Addr()
	switch {
	case b.inet6:
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		putPort(&sa.Port, q.to.Port())
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	case ip.Unmap().Is4():
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.Unmap().As4()}
		putPort(&sa4.Port, q.to.Port())
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	default:
		return false
	}
	return true
}

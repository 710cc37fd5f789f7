package sip

import (
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSocket lets a PacketConn's readers wait for datagrams in the
// kernel, each blocked in recvfrom(2) on the socket as Kamailio's UDP
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

// recv reads the next datagram, blocking in the kernel; after close it
// returns net.ErrClosed.
func (k *kernelSocket) recv(buf []byte) (int, netip.AddrPort, error) {
	for {
		var rsa unix.RawSockaddrAny
		rsaLen := uint32(unsafe.Sizeof(rsa))
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(k.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			0, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&rsaLen)))
		if k.closing.Load() {
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		switch errno {
		case 0:
			src := addrPortOfRaw(&rsa)
			if n == 0 || !src.IsValid() {
				continue // an empty datagram, or no address to answer
			}
			return int(n), src, nil
		case syscall.EAGAIN, syscall.EINTR:
			continue // the receive timeout: look at closing again
		default:
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: errno}
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
	var errno syscall.Errno
	if k.inet6 {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.Addr().As16()}
		putPort(&sa.Port, dst.Port())
		_, _, errno = syscall.Syscall6(syscall.SYS_SENDTO, uintptr(k.fd), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)),
			0, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	} else {
		a := dst.Addr().Unmap()
		if !a.Is4() {
			return &net.OpError{Op: "write", Net: "udp", Err: syscall.EAFNOSUPPORT}
		}
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&sa.Port, dst.Port())
		_, _, errno = syscall.Syscall6(syscall.SYS_SENDTO, uintptr(k.fd), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)),
			0, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	}
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

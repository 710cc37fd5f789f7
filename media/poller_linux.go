//go:build linux

package media

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/voicegw/voicegw/internal/prefetch"
)

// How the Linux Poller works.
//
// Each worker owns an epoll instance (level-triggered) holding the RTP
// sockets of its Receivers, and one goroutine. While packets come, the
// goroutine runs one round per round interval (1 ms by default): it takes
// every ready socket with epoll_wait (without blocking), reads each
// (recvfrom, or recvmmsg for a batch) and runs the Receivers' processing
// right there, then sleeps out the rest of the interval. So one round
// takes the packets of many sockets, and the costs of waiting and waking
// are paid per round, not per packet. When a few rounds in a row found
// nothing, the worker parks in Go's network poller until a packet comes.
//
// Nothing may wake a thread for each datagram:
//   - the sockets must not stay in Go's network poller, which would wake
//     the runtime's idle thread for every datagram. A Receiver registering
//     with a worker takes its Endpoint's RTP socket out of it: it
//     duplicates the descriptor and closes the net.UDPConn (which removes
//     it from Go's poller; the socket stays open through the duplicate).
//     The Endpoint keeps sending from the socket (rawSocket.writeTo) and
//     closes it;
//   - for the same reason the epoll descriptor is in Go's poller only while
//     the worker waits there: a second epoll instance per worker is in Go's
//     poller from the start, and holds the first one only during an idle
//     wait (see waitIdle), so going idle costs an epoll_ctl, not a new
//     registration in Go's poller;
//   - the worker never blocks its thread in a system call, which would
//     make the runtime's monitor retake and hand off its P, over and over.
//
// Timers (the reorder wait, the DTMF timeout) are checked after each round,
// and are the deadline of an idle wait.
//
// Closing an Endpoint closes its descriptor, which takes it out of the
// epoll set without an event: rawSocket.close signals the Receiver's Run
// (rawSocket.wake), which deregisters and returns nil.
//
// A rawSocket is read-locked while a read or write uses its descriptor and
// write-locked to close it, so a descriptor number is never used after it
// was closed (and perhaps reused). Each registration's epoll data is its
// slot index and a generation, so a stale event (of a socket deregistered
// since epoll_wait returned it) is recognized and skipped.

const (
	pollEvents = 512 // ready sockets taken per epoll_wait
	wakeSlot   = -1  // epoll data of the eventfd that wakes a worker to stop
	// sharedSlot4 and sharedSlot6 are the epoll data of a worker's shared
	// sockets (IPv4, IPv6) when steering.
	sharedSlot4 = -2
	sharedSlot6 = -3
	// sharedBatch is the most datagrams one recvmmsg takes from a shared
	// socket; sharedDrainMax the most a round takes from it (the rest, in
	// the next round).
	sharedBatch    = 64
	sharedDrainMax = 4096
	// oobSize holds the control messages of a datagram on a shared
	// socket: its receive time (16 + 16 bytes) and its original
	// destination (an IPv6 one is 16 + 28 bytes, 48 aligned).
	oobSize = 96
)

// rawSocket is a UDP socket's descriptor outside Go's network poller.
type rawSocket struct {
	mu     sync.RWMutex // read-held while fd is in use; write-held to close it
	fd     int          // -1 once closed
	inet6  bool         // an AF_INET6 socket
	local  netip.AddrPort
	closed bool
	// wake is the wake-up channel of the polled Receiver that registered
	// the socket (nil before): close signals it, because closing the
	// descriptor removes it from the worker's epoll set without an event.
	wake chan struct{}
}

// detachRTP takes e's RTP socket out of Go's network poller (once) and
// returns its descriptor.
func (e *Endpoint) detachRTP() (*rawSocket, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.raw != nil {
		return e.raw, nil
	}
	rc, err := e.rtp.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err // closed
	}
	if derr != nil {
		return nil, fmt.Errorf("media: duplicating the RTP socket of %v: %w", e.local, derr)
	}
	// Closing the UDPConn removes its descriptor from Go's poller; the
	// socket stays open through fd.
	if err := e.rtp.Close(); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	a := e.local.Addr()
	e.raw = &rawSocket{fd: fd, inet6: a.Is6() && !a.Is4In6(), local: e.local}
	return e.raw, nil
}

// writeTo sends one datagram to addr (the Endpoint's WriteToUDPAddrPort
// once the socket is raw). It waits up to a second for room in the send
// buffer, as Go's poller would.
func (s *rawSocket) writeTo(b []byte, addr netip.AddrPort) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, s.opError("write", addr, net.ErrClosed)
	}
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var sa unsafe.Pointer
	var salen uintptr
	ip := addr.Addr()
	switch {
	case s.inet6:
		sa6.Family = unix.AF_INET6
		sa6.Addr = ip.As16()
		putPort(&sa6.Port, addr.Port())
		sa, salen = unsafe.Pointer(&sa6), unix.SizeofSockaddrInet6
	case ip.Unmap().Is4():
		sa4.Family = unix.AF_INET
		sa4.Addr = ip.Unmap().As4()
		putPort(&sa4.Port, addr.Port())
		sa, salen = unsafe.Pointer(&sa4), unix.SizeofSockaddrInet4
	default:
		return 0, s.opError("write", addr, unix.EAFNOSUPPORT)
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for tries := 0; ; tries++ {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(p), uintptr(len(b)), 0, uintptr(sa), salen)
		switch {
		case e == 0:
			return len(b), nil
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && tries < 3:
			fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, 1000)
			continue
		}
		return 0, s.opError("write", addr, os.NewSyscallError("sendto", e))
	}
}

func (s *rawSocket) opError(op string, addr netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: net.UDPAddrFromAddrPort(s.local), Addr: net.UDPAddrFromAddrPort(addr), Err: err}
}

// close closes the descriptor once no read or write uses it.
func (s *rawSocket) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	fd := s.fd
	s.fd = -1
	err := unix.Close(fd)
	if s.wake != nil {
		select { // the Receiver's Run ends, as its read would fail without a Poller
		case s.wake <- struct{}{}:
		default:
		}
	}
	return err
}

func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// pollState is a Receiver's registration with a worker; it is guarded by
// the worker's mu.
type pollState struct {
	w    *pollWorker // nil when not registered
	slot int32
	gen  int32
	sock *rawSocket
	gone bool  // the worker dropped the registration (socket closed or failing, Poller closed)
	err  error // why, for Run to return
}

type pollSlot struct {
	r       *Receiver
	gen     int32
	due     time.Time // wall-clock time the Receiver's timers are due; zero when none
	pending bool      // the slot is in the worker's pending list
	last    uint64    // the round that last read the socket
	// Steering: the stream's datagrams go to the worker's shared socket of
	// family index fam (0 IPv4, 1 IPv6) under key. fresh: its own socket
	// may still hold datagrams from before, to be read before the first
	// steered one. dirty: in the worker's dirty list.
	steered bool
	fresh   bool
	dirty   bool
	fam     uint8
	key     steerKey
	// published is when the stream's Stats were last published from the
	// shared socket's path, stale that packets came since (publishLag).
	published time.Time
	stale     bool
}

// publishLag is how long a steered stream's Stats may lag its packets: the
// shared socket's path publishes a stream's counters at most once per
// publishLag (a timer publishes the last ones), not after each packet.
// Copying the counters for each packet was 9% of the steered receive
// path's CPU (BenchmarkRecordCalls, pprof).
const publishLag = 100 * time.Millisecond

type pollWorker struct {
	p *Poller

	// epfd is read-held while epoll_ctl or epoll_wait use epfd, and
	// write-held to close it.
	epmu   sync.RWMutex
	epfd   int // -1 once closed
	wakefd int // eventfd: written to make the worker stop
	stop   atomic.Bool
	events []unix.EpollEvent

	// read state, used only by the worker goroutine
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	n     int
	rerr  syscall.Errno

	// The idle wait (waitIdle), used only by the worker goroutine but
	// idleWaits. idleFile is a second epoll instance, in Go's network
	// poller from the start; it holds epfd only while the worker waits
	// (armed), so that datagrams that come while the worker polls on its
	// own wake no thread.
	idleFile  *os.File
	idlefd    int
	idleRC    syscall.RawConn
	idleFn    func(uintptr) bool // idle, made once
	armed     bool               // epfd is in idlefd
	deadline  time.Time          // idleFile's read deadline
	dlStale   bool               // the deadline expired: set it again
	idleN     int                // events the idle wait's poll took
	idleErr   error              // its error
	idleWaits atomic.Uint64      // waits that parked, for tests

	// Steering: the shared sockets (IPv4, IPv6; nil until needed) and the
	// state of their reads, used under mu.
	shared [2]*sharedSocket
	smsgs  []unix.Mmsghdr
	siovs  []unix.Iovec
	snames []unix.RawSockaddrInet6
	soob   [][oobSize]byte
	sbufs  [][]byte
	dirty  []int32 // slots whose Receivers processed steered datagrams this read
	taken  uint64  // steered datagrams handed to their streams
	// The batch's streams, found before any is processed (fetchStreams).
	sidx  []int32     // slot of datagram i, -1: none
	srxAt []time.Time // its kernel receive time (zero: none)
	touch uintptr     // what the handlers' Prefetch returned, so that their loads stay

	// pcm is where the worker's streams decode their audio: one buffer for
	// all, in cache, instead of one per stream (handlers do not keep
	// Audio.PCM past HandleAudio). Used under mu.
	pcm []int16

	count   int   // Receivers registered; guarded by p.mu
	failure error // why the worker stopped (it takes no Receiver); guarded by p.mu

	// mu is held while the worker processes a round; it guards the slots
	// and the pollState of the worker's Receivers.
	mu       sync.Mutex
	slots    []pollSlot
	free     []int32
	pending  []int32   // slots whose due may be set
	earliest time.Time // earliest due among pending (may be early, never late)
	gen      int32
	rounds   uint64 // rounds with events so far
}

func (p *Poller) native() bool { return true }

func (p *Poller) startSteering() (*steerer, error) { return newSteerer() }

// initShared makes the read state of the shared sockets; w.mu is held.
func (w *pollWorker) initShared() {
	if w.smsgs != nil {
		return
	}
	w.smsgs = make([]unix.Mmsghdr, sharedBatch)
	w.siovs = make([]unix.Iovec, sharedBatch)
	w.snames = make([]unix.RawSockaddrInet6, sharedBatch)
	w.soob = make([][oobSize]byte, sharedBatch)
	w.sbufs = make([][]byte, sharedBatch)
	slab := make([]byte, sharedBatch*rtpBufSize)
	for i := range sharedBatch {
		w.sbufs[i] = slab[i*rtpBufSize : (i+1)*rtpBufSize : (i+1)*rtpBufSize]
		w.siovs[i].Base = &w.sbufs[i][0]
		w.siovs[i].SetLen(rtpBufSize)
		w.smsgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&w.snames[i]))
		w.smsgs[i].Hdr.Iov = &w.siovs[i]
		w.smsgs[i].Hdr.SetIovlen(1)
		w.smsgs[i].Hdr.Control = &w.soob[i][0]
	}
	w.dirty = make([]int32, 0, 256)
	w.sidx = make([]int32, sharedBatch)
	w.srxAt = make([]time.Time, sharedBatch)
}

// steerSlot makes slot idx's stream steered, if it can be: its datagrams
// go to the worker's shared socket of its address family from now on. A
// stream that cannot be steered (no shared socket, a port another stream
// of the worker has, a full map) is read on its own socket. w.mu is held.
func (w *pollWorker) steerSlot(idx int32, sl *pollSlot) {
	local := sl.r.ep.LocalAddr()
	fam := uint8(0)
	family := unix.AF_INET
	if a := local.Addr(); a.Is6() && !a.Is4In6() {
		fam, family = 1, unix.AF_INET6
	}
	ss := w.shared[fam]
	if ss == nil {
		var err error
		if ss, err = w.openShared(fam, family); err != nil {
			w.p.log.Debug("media: poller: no shared socket; the stream's socket is read", "family", family, "error", err)
			return
		}
	}
	port := local.Port()
	if ss.demux[port] != 0 {
		return // another stream of this worker has the port, on another address
	}
	sl.key = makeSteerKey(local)
	if err := w.p.steer.set(sl.key, ss.fd); err != nil {
		w.p.log.Debug("media: poller: stream not steered; its socket is read", "local", local, "error", err)
		return
	}
	ss.demux[port] = idx + 1
	sl.steered, sl.fresh, sl.fam = true, true, fam
}

// openShared opens the worker's shared socket of a family and adds it to
// the epoll set; w.mu is held.
func (w *pollWorker) openShared(fam uint8, family int) (*sharedSocket, error) {
	ss, err := newSharedSocket(family)
	if err != nil {
		return nil, err
	}
	w.epmu.RLock()
	defer w.epmu.RUnlock()
	if w.epfd < 0 {
		_ = unix.Close(ss.fd)
		return nil, os.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	ev.Fd = sharedSlot4
	if fam == 1 {
		ev.Fd = sharedSlot6
	}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, ss.fd, &ev); err != nil {
		_ = unix.Close(ss.fd)
		return nil, err
	}
	w.initShared()
	w.shared[fam] = ss
	return ss, nil
}

// unsteer ends the steering of slot idx: the map entry goes, so that new
// datagrams go to the stream's own socket, and, when drain is set, the
// shared socket is read, so that the stream's datagrams already there are
// processed before those its own socket receives from now on. w.mu is held.
func (w *pollWorker) unsteer(idx int32, sl *pollSlot, drain bool) {
	if !sl.steered {
		return
	}
	w.p.steer.del(sl.key)
	sl.steered = false
	ss := w.shared[sl.fam]
	if ss == nil {
		return // closed with the Poller
	}
	if drain {
		sl.steered = true // its datagrams there are still its own
		w.serveShared(ss, math.MaxInt)
		sl.steered = false
	}
	if ss.demux[sl.key.portFamily&0xffff] == idx+1 {
		ss.demux[sl.key.portFamily&0xffff] = 0
	}
	sl.fresh = false
}

// maxSocketWait bounds the wait in a shared socket that a datagram's
// kernel receive time may show (controlOf): the socket holds about 1.3 s of
// 1,000 calls; a larger difference from the read time is a step of the
// wall clock, and the read time is kept.
const maxSocketWait = 10 * time.Second

// serveShared reads and processes up to limit datagrams (more when a batch
// read overshoots) from a shared socket, handing each to the stream of its
// original destination port; w.mu is held.
func (w *pollWorker) serveShared(ss *sharedSocket, limit int) {
	got := 0
	for got < limit {
		for i := range w.smsgs {
			w.smsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			w.smsgs[i].Hdr.SetControllen(oobSize)
			w.smsgs[i].Hdr.Flags = 0
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(ss.fd), uintptr(unsafe.Pointer(&w.smsgs[0])), uintptr(len(w.smsgs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			break // drained (EAGAIN); a failing shared socket leaves the streams to their own sockets' reads
		}
		at := time.Now()
		for i := range int(n) {
			if i%fetchAhead == 0 {
				w.fetchStreams(ss, i, min(i+fetchAhead, int(n)))
			}
			m := &w.smsgs[i]
			idx, rxAt := w.sidx[i], w.srxAt[i]
			if idx < 0 {
				continue // not one of ours, or its stream ended meanwhile
			}
			sl := &w.slots[idx]
			r := sl.r
			if r == nil {
				continue // dropped by an earlier datagram's read (a slot is not reused within a round)
			}
			if sl.fresh {
				// What reached the stream's own socket before steering
				// began comes first, all of it: what a round would leave
				// there (drainMax) would be read after the steered
				// datagrams, late. The socket holds at most its receive
				// buffer (about 255 datagrams), all older than this one.
				sl.fresh = false
				w.serveUpTo(idx, sl, math.MaxInt)
				if r = sl.r; r == nil {
					continue
				}
			}
			if r.ctl.Load() {
				r.applyControl()
			}
			when := at
			if !r.sysClock {
				when = r.now()
			} else if !rxAt.IsZero() {
				// when it came, not when it was read: the read time less
				// the wait in the socket, so that the Arrival keeps the
				// monotonic clock (the kernel's time is the wall clock,
				// which a clock step moves); a wait outside (0, maxSocketWait]
				// is a clock step, not a wait. Never before the stream's
				// previous datagram (one read late from its own socket
				// before steering began has its read time).
				if wait := at.Sub(rxAt); wait > 0 && wait <= maxSocketWait {
					when = at.Add(-wait)
					if last := r.s.st.LastArrival; when.Before(last) {
						when = last
					}
				}
			}
			r.s.process(w.sbufs[i][:m.Len], sockaddrAddrPort(&w.snames[i]), when)
			w.taken++
			if !sl.dirty {
				sl.dirty = true
				w.dirty = append(w.dirty, idx)
			}
		}
		got += int(n)
		if int(n) < len(w.smsgs) {
			break
		}
	}
	now := time.Now()
	for _, idx := range w.dirty {
		sl := &w.slots[idx]
		sl.dirty = false
		if sl.r != nil {
			if now.Sub(sl.published) >= publishLag {
				sl.r.publish()
				sl.published, sl.stale = now, false
			} else {
				sl.stale = true // published by a timer (schedule, sweep)
			}
			w.schedule(idx, sl)
		}
	}
	w.dirty = w.dirty[:0]
}

func (p *Poller) start(n int) error {
	for range n {
		w, err := p.newWorker()
		if err != nil {
			for _, w := range p.workers {
				w.closeFDs()
			}
			p.workers = nil
			return err
		}
		p.workers = append(p.workers, w)
	}
	for _, w := range p.workers {
		p.wg.Add(1)
		go w.loop()
	}
	return nil
}

func (p *Poller) newWorker() (*pollWorker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: poller: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("media: poller: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	ev.Fd = wakeSlot
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("media: poller: epoll_ctl: %w", err)
	}
	idlefd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		// Non-blocking, so that os puts it in Go's network poller.
		if err = unix.SetNonblock(idlefd, true); err != nil {
			_ = unix.Close(idlefd)
		}
	}
	if err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("media: poller: idle epoll instance: %w", err)
	}
	idleFile := os.NewFile(uintptr(idlefd), "media-poller-idle")
	idleRC, err := idleFile.SyscallConn()
	if err != nil {
		_ = idleFile.Close()
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("media: poller: %w", err)
	}
	w := &pollWorker{p: p, epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, pollEvents),
		idleFile: idleFile, idlefd: idlefd, idleRC: idleRC}
	w.idleFn = w.idle
	b := p.batch
	w.msgs = make([]unix.Mmsghdr, b)
	w.iovs = make([]unix.Iovec, b)
	w.names = make([]unix.RawSockaddrInet6, b)
	w.bufs = make([][]byte, b)
	slab := make([]byte, b*rtpBufSize)
	for i := range b {
		w.bufs[i] = slab[i*rtpBufSize : (i+1)*rtpBufSize : (i+1)*rtpBufSize]
		w.iovs[i].Base = &w.bufs[i][0]
		w.iovs[i].SetLen(rtpBufSize)
		w.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		w.msgs[i].Hdr.Iov = &w.iovs[i]
		w.msgs[i].Hdr.SetIovlen(1)
	}
	return w, nil
}

func (w *pollWorker) closeFDs() {
	w.epmu.Lock()
	defer w.epmu.Unlock()
	if w.epfd >= 0 {
		_ = w.idleFile.Close()
		_ = unix.Close(w.epfd)
		_ = unix.Close(w.wakefd)
		w.epfd, w.wakefd, w.idlefd = -1, -1, -1
	}
	for i, ss := range w.shared {
		if ss != nil {
			_ = unix.Close(ss.fd)
			w.shared[i] = nil
		}
	}
}

func (p *Poller) stop() {
	if p.steer != nil {
		// From now on every datagram goes to its stream's own socket.
		p.steer.close()
	}
	for _, w := range p.workers {
		w.stop.Store(true)
		one := [8]byte{1}
		_, _ = unix.Write(w.wakefd, one[:])
	}
	p.wg.Wait()
	for _, w := range p.workers {
		w.closeFDs()
		w.mu.Lock()
		for i := range w.slots {
			if w.slots[i].r != nil {
				w.drop(int32(i), errPollerClosed())
			}
		}
		w.mu.Unlock()
	}
}

// register takes r's RTP socket out of Go's poller and adds it to the least
// loaded worker. It returns false without an error when the socket is
// closed already.
func (p *Poller) register(r *Receiver) (bool, error) {
	sock, err := r.ep.detachRTP()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return false, nil // an Endpoint closed under its Receiver ends Run without error
		}
		return false, fmt.Errorf("media: poller: %w", err)
	}
	sock.mu.Lock()
	sock.wake = r.wake // closing the socket ends Run
	sock.mu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false, errPollerClosed()
	}
	if len(p.workers) == 0 {
		p.mu.Unlock()
		return false, fmt.Errorf("%w: the Receiver's Poller was not made by NewPoller", ErrInvalidConfig)
	}
	var w *pollWorker
	var failure error
	for _, x := range p.workers {
		if x.failure != nil {
			failure = x.failure
			continue
		}
		if w == nil || x.count < w.count {
			w = x
		}
	}
	if w == nil {
		p.mu.Unlock()
		return false, fmt.Errorf("%w: every worker of the Receiver's Poller failed: %w", ErrClosed, failure)
	}
	w.count++
	p.mu.Unlock()
	w.mu.Lock()
	idx := w.alloc(r)
	gen := w.slots[idx].gen
	r.ps = pollState{w: w, slot: idx, gen: gen, sock: sock}
	w.mu.Unlock()
	if err := w.ctl(unix.EPOLL_CTL_ADD, sock, idx, gen); err != nil {
		w.mu.Lock()
		if !r.ps.gone {
			w.release(idx)
		}
		r.ps = pollState{}
		w.mu.Unlock()
		p.unregistered(w)
		switch {
		case errors.Is(err, net.ErrClosed):
			return false, nil
		case errors.Is(err, os.ErrClosed):
			return false, errPollerClosed()
		}
		return false, fmt.Errorf("media: poller: registering RTP socket %v: %w", r.ep.LocalAddr(), err)
	}
	if p.steer != nil {
		w.mu.Lock()
		if !r.ps.gone && w.slots[idx].r == r {
			w.steerSlot(idx, &w.slots[idx])
		}
		w.mu.Unlock()
	}
	return true, nil
}

func (p *Poller) unregistered(w *pollWorker) {
	p.mu.Lock()
	w.count--
	p.mu.Unlock()
}

// deregister removes r from its worker, waiting for a round that processes
// it to end, and returns the error that made the worker drop it, if any.
func (p *Poller) deregister(r *Receiver) error {
	w := r.ps.w
	if w == nil {
		return nil
	}
	w.mu.Lock()
	gone, sock, idx, gen := r.ps.gone, r.ps.sock, r.ps.slot, r.ps.gen
	w.mu.Unlock()
	if !gone {
		// An error means the socket or the epoll instance is closed, which
		// removed the registration already.
		_ = w.ctl(unix.EPOLL_CTL_DEL, sock, idx, gen)
	}
	w.mu.Lock()
	if !r.ps.gone {
		// What reached the socket before the stop is part of the stream:
		// a worker that had not come round to it yet reads it now (a
		// Receiver reading its own socket would have read it already).
		// A steered stream's datagrams in the shared socket came before
		// those in its own.
		w.unsteer(idx, &w.slots[idx], true)
		w.serveUpTo(idx, &w.slots[idx], drainMax)
	}
	if !r.ps.gone {
		w.release(idx)
	}
	err := r.ps.err
	r.ps = pollState{}
	w.mu.Unlock()
	p.unregistered(w)
	return err
}

// ctl adds or deletes a socket, holding both descriptors open. It returns
// net.ErrClosed for a closed socket and os.ErrClosed for a closed worker.
func (w *pollWorker) ctl(op int, sock *rawSocket, idx, gen int32) error {
	w.epmu.RLock()
	defer w.epmu.RUnlock()
	if w.epfd < 0 {
		return os.ErrClosed
	}
	sock.mu.RLock()
	defer sock.mu.RUnlock()
	if sock.closed {
		return net.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	ev.Fd, ev.Pad = idx, gen
	return unix.EpollCtl(w.epfd, op, sock.fd, &ev)
}

// alloc takes a free slot for r; w.mu is held.
func (w *pollWorker) alloc(r *Receiver) int32 {
	var idx int32
	if n := len(w.free); n > 0 {
		idx = w.free[n-1]
		w.free = w.free[:n-1]
	} else {
		w.slots = append(w.slots, pollSlot{})
		idx = int32(len(w.slots) - 1)
	}
	w.gen++
	sl := &w.slots[idx]
	sl.r, sl.gen, sl.due, sl.last = r, w.gen, time.Time{}, 0
	sl.published, sl.stale = time.Time{}, false
	if w.pcm == nil {
		w.pcm = make([]int16, rtpBufSize)
	}
	r.s.pcm = w.pcm
	return idx
}

// release frees slot idx; w.mu is held. The slot may stay in the pending
// list (with its pending flag), which the next sweep cleans up.
func (w *pollWorker) release(idx int32) {
	sl := &w.slots[idx]
	w.unsteer(idx, sl, false)
	if sl.r != nil {
		sl.r.s.pcm = nil // the stream's own again, should Run read it without the Poller
	}
	sl.r, sl.due = nil, time.Time{}
	w.free = append(w.free, idx)
}

// drop ends the registration of slot idx from the worker's side (the
// socket failed or was closed, or the Poller was closed) and wakes the
// Receiver's Run; w.mu is held.
func (w *pollWorker) drop(idx int32, err error) {
	r := w.slots[idx].r
	_ = w.ctl(unix.EPOLL_CTL_DEL, r.ps.sock, idx, r.ps.gen)
	w.release(idx)
	r.ps.gone, r.ps.err = true, err
	r.wakeRun()
}

// idleRounds is how many rounds in a row must find nothing before a worker
// with a positive round interval stops polling and waits for a packet.
const idleRounds = 32

// fetchAhead is how many datagrams' streams fetchStreams reads at once:
// enough misses in flight, few enough that the first datagram's lines are
// not queued behind all the others' (about 75 lines per datagram with a
// recording behind it, hinted: the processor has a few dozen misses in
// flight at most). BenchmarkRecordCalls at 2,000 calls, alternated: 2, 4,
// 6 and 8 within the noise of one another, 16 a few percent slower.
const fetchAhead = 8

// fetchStreams finds the slots of datagrams [from, to) of the shared
// socket's batch (w.sidx, w.srxAt) and brings into cache the memory each
// one's processing starts with: the Receiver, the stream's state, then
// what the handlers' Prefetch asks for. The streams of a batch are
// thousands of objects apart, rarely in cache; read one after the other,
// as processing each datagram does, every miss waits for the one before
// it. Here they are hinted (prefetch instructions, which do not wait) for
// the whole pass, so the processor has many misses in flight at once, and
// the datagrams are then processed from cache.
func (w *pollWorker) fetchStreams(ss *sharedSocket, from, to int) {
	for i := from; i < to; i++ {
		w.sidx[i] = -1
		dst, rxAt, ok := controlOf(w.soob[i][:], int(w.smsgs[i].Hdr.Controllen))
		if !ok {
			continue
		}
		w.srxAt[i] = rxAt
		w.sidx[i] = ss.demux[dst.Port()] - 1
	}
	// The Receivers and streams are hinted, not read (their lines come
	// without holding the worker up); only the field with the stream's
	// address is waited for.
	var sum uintptr
	for _, idx := range w.sidx[from:to] {
		if idx >= 0 {
			prefetch.HintObject(w.slots[idx].r)
		}
	}
	for _, idx := range w.sidx[from:to] {
		if idx >= 0 {
			if r := w.slots[idx].r; r != nil {
				prefetch.HintObject(r.s)
			}
		}
	}
	// the handlers' state, now that the streams' (and their handler
	// fields) are in cache
	for _, idx := range w.sidx[from:to] {
		if idx >= 0 {
			if r := w.slots[idx].r; r != nil && r.s.pf != nil {
				sum += r.s.pf.Prefetch()
			}
		}
	}
	w.touch += sum
}

// loop runs rounds until the Poller is closed. While packets come it polls
// once per round interval, without blocking; when idleRounds rounds found
// nothing (with no pause between rounds: when one round found nothing) it
// waits in Go's poller for the next packet. A round that took every event
// one epoll_wait returns, or that lasted the whole interval, is followed
// by the next at once: the worker is behind.
func (w *pollWorker) loop() {
	defer w.p.wg.Done()
	idle := 0
	woke := false // n is from an idle wait
	n, err := w.poll()
	for err == nil && !w.stop.Load() {
		start := time.Now()
		if n > 0 {
			idle = 0
			w.round(n)
		} else {
			idle++
			w.timers(start)
		}
		switch {
		case n == len(w.events):
			w.disarm()
			n, err = w.poll()
		case w.p.interval > 0 && (n > 0 || idle < idleRounds):
			// Let packets gather before the next round.
			w.disarm()
			time.Sleep(w.p.interval - time.Since(start))
			n, err = w.poll()
		case w.p.interval < 0 && n > 0:
			// No pause. Right after a wake-up the next poll most likely
			// finds nothing (sparse packets) and the worker waits again:
			// it stays armed for that wait. Two busy rounds in a row
			// disarm it.
			if !woke {
				w.disarm()
			}
			n, err = w.poll()
		default:
			n, err = w.waitIdle()
			idle = 0
			woke = true
			continue
		}
		woke = false
	}
	if err != nil {
		w.fail(fmt.Errorf("epoll_wait: %w", err))
	}
}

// poll takes the ready sockets without blocking.
func (w *pollWorker) poll() (int, error) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(w.epfd), uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// timers fires the timers due at now.
func (w *pollWorker) timers(now time.Time) {
	w.mu.Lock()
	if !w.earliest.IsZero() && !now.Before(w.earliest) {
		w.sweep(now)
	}
	w.mu.Unlock()
}

// waitIdle waits until a socket is readable, the earliest timer is due or
// the Poller is closed, and returns the events it took (0 for a timer).
// It parks in Go's network poller on idleFile, the epoll instance that
// holds epfd while the worker is armed; arming costs one epoll_ctl, and
// nothing is allocated.
//
// No wake-up is lost although Go's poller is edge-triggered: epfd is in
// idleFile before the wait begins, and the wait (idle, called by
// RawConn.Read once Go's poller has forgotten earlier notifications) polls
// epfd before it parks. A datagram that came before that poll is in its
// result; one that comes after it makes epfd, then idleFile, readable,
// which Go's poller reports to the parked (or parking) wait.
func (w *pollWorker) waitIdle() (int, error) {
	if !w.armed {
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		if err := unix.EpollCtl(w.idlefd, unix.EPOLL_CTL_ADD, w.epfd, &ev); err != nil {
			return w.pollLater()
		}
		w.armed = true
	}
	w.mu.Lock()
	due := w.earliest
	w.mu.Unlock()
	if w.dlStale || !due.Equal(w.deadline) {
		if err := w.idleFile.SetReadDeadline(due); err != nil {
			return w.pollLater()
		}
		w.deadline, w.dlStale = due, false
	}
	w.idleN, w.idleErr = 0, nil
	err := w.idleRC.Read(w.idleFn)
	switch {
	case w.idleErr != nil:
		return 0, w.idleErr
	case err == nil:
		return w.idleN, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.dlStale = true
		return 0, nil
	}
	return w.pollLater()
}

// idle is the RawConn.Read callback of waitIdle: it polls, and asks to
// park when nothing is ready.
func (w *pollWorker) idle(uintptr) bool {
	n, err := w.poll()
	if err != nil || n > 0 {
		w.idleN, w.idleErr = n, err
		return true
	}
	w.idleWaits.Add(1)
	return false
}

// pollLater is waitIdle when the worker cannot wait in Go's poller: it
// polls after a pause.
func (w *pollWorker) pollLater() (int, error) {
	time.Sleep(max(w.p.interval, time.Millisecond))
	return w.poll()
}

// disarm takes epfd out of idleFile, so that the datagrams that come
// while the worker polls on its own do not wake Go's poller.
func (w *pollWorker) disarm() {
	if w.armed {
		_ = unix.EpollCtl(w.idlefd, unix.EPOLL_CTL_DEL, w.epfd, nil)
		w.armed = false
	}
}

// round processes the n events epoll_wait returned, then the timers that
// are due. A socket is read until it is empty, up to drainMax datagrams
// (with a batch of one: when the previous round read it too), and one left
// with datagrams is level-triggered: the next round takes it again.
func (w *pollWorker) round(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rounds++
	for i := range n {
		ev := &w.events[i]
		idx := ev.Fd
		switch {
		case idx == sharedSlot4 || idx == sharedSlot6:
			if ss := w.shared[sharedSlot4-idx]; ss != nil {
				w.serveShared(ss, sharedDrainMax)
			}
			continue
		case idx < 0 || int(idx) >= len(w.slots):
			continue // wakeSlot: stop is set
		}
		if sl := &w.slots[idx]; sl.r != nil && sl.gen == ev.Pad {
			w.serve(idx, sl)
		}
	}
	if !w.earliest.IsZero() {
		if now := time.Now(); !now.Before(w.earliest) {
			w.sweep(now)
		}
	}
}

// fail drops every Receiver of a worker that cannot go on.
func (w *pollWorker) fail(err error) {
	w.p.log.Warn("media: poller worker failed; its receivers stop", "error", err)
	err = fmt.Errorf("media: poller: %w", err)
	w.p.mu.Lock()
	w.failure = err // never chosen again
	w.p.mu.Unlock()
	w.mu.Lock()
	for i := range w.slots {
		if w.slots[i].r != nil {
			w.drop(int32(i), err)
		}
	}
	w.mu.Unlock()
}

// read receives up to a batch of datagrams from socket fd without
// blocking. A batch of one is a recvfrom, which costs less than a recvmmsg
// of one.
func (w *pollWorker) read(fd int) {
	if len(w.msgs) == 1 {
		namelen := uint32(unix.SizeofSockaddrInet6)
		for {
			n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&w.bufs[0][0])), uintptr(len(w.bufs[0])),
				unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&w.names[0])), uintptr(unsafe.Pointer(&namelen)))
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				w.n, w.rerr = 0, e
				return
			}
			w.n, w.rerr = 1, 0
			w.msgs[0].Len = uint32(n)
			return
		}
	}
	for i := range w.msgs {
		w.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		w.msgs[i].Hdr.Flags = 0
	}
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msgs[0])), uintptr(len(w.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			w.n, w.rerr = 0, e
			return
		}
		w.n, w.rerr = int(n), 0
		return
	}
}

// drainMax is the most datagrams a round reads from one socket: a socket
// whose read filled the batch is read again, up to this, so that a burst
// is read at once (its arrival times are when it came, and the packet the
// others wait for is not left in the socket past the reorder wait), while
// one flooded socket cannot hold up the others for long.
//
// With a batch of one (recvfrom) every read fills the batch, and a second
// read would find most sockets empty (a 20 ms stream has one packet per
// round), which costs a system call per packet. So such a socket is read
// again only when the previous round read it too: the first round of a
// burst reads one packet, the next round reads the rest.
const drainMax = 64

// serve reads and processes what slot idx's socket holds; w.mu is held.
func (w *pollWorker) serve(idx int32, sl *pollSlot) {
	limit := drainMax
	if len(w.msgs) == 1 && sl.last+1 != w.rounds {
		limit = 1 // not backlogged, most likely (see drainMax)
	}
	sl.last = w.rounds
	w.serveUpTo(idx, sl, limit)
}

// serveUpTo reads and processes up to limit datagrams (more when a batch
// read overshoots) of slot idx's socket, stopping when it is empty; w.mu is
// held.
func (w *pollWorker) serveUpTo(idx int32, sl *pollSlot, limit int) {
	r := sl.r
	sock := r.ps.sock
	got := 0
	for got < limit {
		sock.mu.RLock()
		if sock.closed {
			sock.mu.RUnlock()
			// The Endpoint was closed under the running Receiver: Run ends
			// without error, as when its read returns net.ErrClosed.
			w.drop(idx, nil)
			return
		}
		w.read(sock.fd)
		sock.mu.RUnlock()
		if w.rerr == unix.EAGAIN {
			break // drained, or a stale level-triggered event
		}
		if w.rerr != 0 {
			w.drop(idx, fmt.Errorf("media: reading RTP on %v: %w", r.ep.LocalAddr(), os.NewSyscallError("recvfrom", w.rerr)))
			return
		}
		for i := range w.n {
			if r.ctl.Load() {
				r.applyControl()
			}
			m := &w.msgs[i]
			r.s.process(w.bufs[i][:m.Len], sockaddrAddrPort(&w.names[i]), r.now())
		}
		got += w.n
		if w.n < len(w.msgs) {
			break // recvmmsg stopped at the empty socket
		}
	}
	if got == 0 {
		return
	}
	r.publish()
	sl.stale = false
	w.schedule(idx, sl)
}

// schedule records when slot idx's timers are due; w.mu is held.
func (w *pollWorker) schedule(idx int32, sl *pollSlot) {
	r := sl.r
	due := r.s.due()
	if due.IsZero() {
		sl.due = time.Time{}
	} else {
		sl.due = time.Now().Add(due.Sub(r.now()))
	}
	if sl.stale {
		if at := sl.published.Add(publishLag); sl.due.IsZero() || at.Before(sl.due) {
			sl.due = at
		}
	}
	if sl.due.IsZero() {
		return
	}
	if !sl.pending {
		sl.pending = true
		w.pending = append(w.pending, idx)
	}
	if w.earliest.IsZero() || sl.due.Before(w.earliest) {
		w.earliest = sl.due
	}
}

// sweep fires the timers due at now and recomputes the earliest; w.mu is
// held.
func (w *pollWorker) sweep(now time.Time) {
	w.earliest = time.Time{}
	keep := w.pending[:0]
	for _, idx := range w.pending {
		sl := &w.slots[idx]
		if sl.r != nil && !sl.due.IsZero() && !now.Before(sl.due) {
			r := sl.r
			r.s.expire(r.now())
			r.publish()
			sl.published, sl.stale = now, false
			sl.due = time.Time{}
			if due := r.s.due(); !due.IsZero() {
				sl.due = time.Now().Add(due.Sub(r.now()))
			}
		}
		if sl.r == nil || sl.due.IsZero() {
			sl.pending = false
			continue
		}
		keep = append(keep, idx)
		if w.earliest.IsZero() || sl.due.Before(w.earliest) {
			w.earliest = sl.due
		}
	}
	clear(w.pending[len(keep):])
	w.pending = keep
}

// sockaddrAddrPort converts a received source address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

//go:build linux

package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkReceiveStreams receives many 20 ms streams at once over loopback,
// paced like real calls: every 20 ms one packet for each stream, sent in one
// burst (as a recording client or siprec-load sends them). It reports the
// receive side's CPU per packet: the process's CPU time less the sending
// thread's (the sender is one goroutine locked to its thread, sending with
// sendmmsg; on loopback the kernel's delivery of a datagram is done by the
// sending call, so it is counted on the sender's side, as it would be by a
// network card's interrupt on a real host). "goroutine" is a Receiver per
// stream reading its own socket, "poller" the same Receivers on a Poller
// with one worker per GOMAXPROCS, "steered" that Poller steering the
// datagrams to its workers' shared sockets (see Steering).
//
//	go test ./media -run '^$' -bench ReceiveStreams -benchtime 400000x
func BenchmarkReceiveStreams(b *testing.B) {
	for _, streams := range []int{1000, 2000} {
		for _, path := range []string{"goroutine", "poller", "steered"} {
			b.Run(fmt.Sprintf("%s/streams=%d", path, streams), func(b *testing.B) {
				var p *Poller
				switch path {
				case "poller":
					p = newTestPoller(b, runtime.GOMAXPROCS(0))
				case "steered":
					p = newSteeredPoller(b, runtime.GOMAXPROCS(0))
				}
				benchStreams(b, streams, p)
			})
		}
	}
}

func benchStreams(b *testing.B, streams int, p *Poller) {
	rs := newBenchReceivers(b, streams, p)
	defer rs.stop()
	rs.run()
	rxs, received := rs.rxs, rs.received
	ticks := (b.N + streams - 1) / streams
	total := uint64(ticks * streams)
	b.ResetTimer()
	cpu0 := processCPU()
	senderCPU := make(chan time.Duration, 1)
	go func() { senderCPU <- paceStreams(b, rxs, ticks) }()
	sent := <-senderCPU
	deadline := time.Now().Add(10 * time.Second)
	for received() < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cpu := processCPU() - cpu0 - sent
	b.StopTimer()
	got := received()
	if got < total {
		b.Logf("%d of %d datagrams arrived", got, total)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "rx-ns/packet")
	b.ReportMetric(float64(got)/cpu.Seconds(), "packets/s/core")
	b.ReportMetric(float64(sent.Nanoseconds())/float64(total), "tx-ns/packet")

}

// paceStreams sends ticks rounds, 20 ms apart, of one 20 ms PCMU packet to
// each receiver, from a thread of its own, and returns that thread's CPU
// time.
func paceStreams(b *testing.B, rxs []*Receiver, ticks int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Error(err)
		return 0
	}
	defer c.Close()
	n := len(rxs)
	pkts := make([][]byte, n)
	names := make([]unix.RawSockaddrInet4, n)
	iovs := make([]unix.Iovec, n)
	msgs := make([]unix.Mmsghdr, n)
	for i, rx := range rxs {
		pkts[i] = rtpPacket(b, uint32(i+1), 0, 0, 0, false, pattern(0, 160))
		a := rx.LocalAddr()
		names[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Addr().As4()}
		port := (*[2]byte)(unsafe.Pointer(&names[i].Port))
		port[0], port[1] = byte(a.Port()>>8), byte(a.Port())
		iovs[i].Base = &pkts[i][0]
		iovs[i].SetLen(len(pkts[i]))
		msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	var fd uintptr
	rc, _ := c.SyscallConn()
	_ = rc.Control(func(f uintptr) { fd = f })
	cpu0 := threadCPU()
	next := time.Now()
	for t := range ticks {
		for i := range pkts {
			rewrite(pkts[i], uint16(t), uint32(t*160))
		}
		for off := 0; off < n; {
			k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[off])), uintptr(n-off), 0, 0, 0)
			if e != 0 && e != unix.EINTR && e != unix.EAGAIN {
				b.Error(e)
				return 0
			}
			off += int(k)
		}
		next = next.Add(20 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	return threadCPU() - cpu0
}

// benchReceivers are a benchmark's Receivers, on a Poller or not, each
// with a nopHandler.
type benchReceivers struct {
	rxs    []*Receiver
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBenchReceivers(b *testing.B, n int, p *Poller) *benchReceivers {
	rs := &benchReceivers{rxs: make([]*Receiver, n)}
	rs.ctx, rs.cancel = context.WithCancel(context.Background())
	for i := range rs.rxs {
		rx, err := NewReceiver(allocate(b), ReceiverConfig{Handler: &nopHandler{}, Poller: p})
		if err != nil {
			b.Fatal(err)
		}
		rs.rxs[i] = rx
	}
	return rs
}

// run starts every Receiver's Run in a goroutine of its own.
func (rs *benchReceivers) run() {
	for _, rx := range rs.rxs {
		rs.wg.Add(1)
		go func() { defer rs.wg.Done(); _ = rx.Run(rs.ctx) }()
	}
}

// stop ends the Runs and closes the Receivers.
func (rs *benchReceivers) stop() {
	rs.cancel()
	rs.wg.Wait()
	for _, rx := range rs.rxs {
		_ = rx.Close()
	}
}

// received returns the datagrams the Receivers read.
func (rs *benchReceivers) received() uint64 {
	var n uint64
	for _, rx := range rs.rxs {
		n += rx.Stats().Datagrams
	}
	return n
}

func processCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

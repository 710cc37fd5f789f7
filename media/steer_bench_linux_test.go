//go:build linux

package media

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkSteeredBursts sends 20 ms streams to steered Receivers on one
// worker as siprec-load does: from one socket through a BatchWriter, each
// 20 ms frame spread over bursts. It reports where the datagrams went:
// own/op, the share read from the streams' own sockets (not steered: sent
// before the stream was), and drops, the datagrams the streams' own
// sockets and the shared socket dropped (/proc/net/udp). "registered": every
// Receiver is steered before the first packet; "starting": the Receivers'
// Run is started in goroutines as the packets begin, as a SIPREC server
// did before it waited for RunReady before answering.
//
//	go test ./media -run '^$' -bench SteeredBursts -benchtime 300000x
func BenchmarkSteeredBursts(b *testing.B) {
	for _, streams := range []int{2000, 4000} {
		for _, bursts := range []int{1, 10} {
			for _, start := range []string{"registered", "starting"} {
				b.Run(fmt.Sprintf("streams=%d/bursts=%d/%s", streams, bursts, start), func(b *testing.B) {
					benchSteeredBursts(b, streams, bursts, start == "starting")
				})
			}
		}
	}
}

func benchSteeredBursts(b *testing.B, streams, bursts int, starting bool) {
	p := newSteeredPoller(b, 1)
	rs := newBenchReceivers(b, streams, p)
	defer rs.stop()
	rxs := rs.rxs
	ports := map[uint16]bool{}
	for _, rx := range rxs {
		ports[rx.LocalAddr().Port()] = true
	}
	if !starting {
		rs.run()
		for _, rx := range rxs {
			waitSteered(b, rx)
		}
	}
	for _, ss := range p.workers[0].shared {
		if ss != nil {
			if sa, err := sockname(ss.fd); err == nil {
				ports[sa.Port()] = true
			}
		}
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bw, err := NewBatchWriter(c)
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([][]byte, streams)
	for i := range pkts {
		pkts[i] = rtpPacket(b, uint32(i+1), 0, 0, 0, false, pattern(0, 160))
	}
	drops0 := udpDrops(b, ports)
	ticks := (b.N + streams - 1) / streams
	total := uint64(ticks * streams)
	b.ResetTimer()
	started := make(chan struct{})
	if starting {
		go func() { rs.run(); close(started) }()
	} else {
		close(started)
	}
	next := time.Now()
	for tk := range ticks {
		for g := range bursts {
			for i := g; i < streams; i += bursts {
				rewrite(pkts[i], uint16(tk), uint32(tk*160))
				_, _ = bw.WriteToUDPAddrPort(pkts[i], rxs[i].LocalAddr())
			}
			_ = bw.Flush()
			next = next.Add(20 * time.Millisecond / time.Duration(bursts))
			time.Sleep(time.Until(next))
		}
	}
	<-started
	received := rs.received
	for deadline := time.Now().Add(5 * time.Second); received() < total && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	got := received()
	own := got - taken(p)
	b.ReportMetric(float64(own)/float64(total), "own/op")
	b.ReportMetric(float64(udpDrops(b, ports)-drops0), "drops")
	b.ReportMetric(float64(total-got), "missing")
}

// udpDrops sums the drops counter of the IPv4 UDP sockets bound to ports
// (/proc/net/udp).
func udpDrops(tb testing.TB, ports map[uint16]bool) uint64 {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		tb.Skip(err)
	}
	defer f.Close()
	var n uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 || !strings.Contains(fs[1], ":") {
			continue
		}
		port, err := strconv.ParseUint(fs[1][strings.IndexByte(fs[1], ':')+1:], 16, 16)
		if err != nil || !ports[uint16(port)] {
			continue
		}
		d, _ := strconv.ParseUint(fs[len(fs)-1], 10, 64)
		n += d
	}
	return n
}

// sockname returns the local address of an IPv4 socket.
func sockname(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	s4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("not IPv4: %T", sa)
	}
	return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port)), nil
}

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestBatchWriter sends datagrams to several sockets through one
// BatchWriter: nothing leaves before Flush (or a full batch), then every
// socket gets its own datagrams, in order, and a Sender writes through it
// as through a socket.
func TestBatchWriter(t *testing.T) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bw, err := NewBatchWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	if bw.LocalAddr().String() != conn.LocalAddr().String() {
		t.Errorf("LocalAddr %v, want %v", bw.LocalAddr(), conn.LocalAddr())
	}
	const sockets, each = 5, 300 // 1,500 datagrams: one full batch is sent by a write
	rxs := make([]*net.UDPConn, sockets)
	for i := range rxs {
		if rxs[i], err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0))); err != nil {
			t.Fatal(err)
		}
		defer rxs[i].Close()
		_ = rxs[i].SetReadBuffer(1 << 20)
	}
	for k := range each {
		for i, rx := range rxs {
			msg := fmt.Appendf(nil, "%d:%d", i, k)
			if n, err := bw.WriteToUDPAddrPort(msg, rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil || n != len(msg) {
				t.Fatalf("write %d = %d, %v", k, n, err)
			}
		}
	}
	if q := bw.Queued(); q != sockets*each-batchDatagrams {
		t.Errorf("%d datagrams queued, want %d (a full batch went)", q, sockets*each-batchDatagrams)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if q := bw.Queued(); q != 0 {
		t.Errorf("%d datagrams queued after Flush", q)
	}
	buf := make([]byte, 64)
	for i, rx := range rxs {
		_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		for k := range each {
			n, from, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("socket %d, datagram %d: %v", i, k, err)
			}
			if want := fmt.Sprintf("%d:%d", i, k); string(buf[:n]) != want || from.Port() != conn.LocalAddr().(*net.UDPAddr).AddrPort().Port() {
				t.Fatalf("socket %d got %q from %v, want %q from the writer's socket", i, buf[:n], from, want)
			}
		}
	}

	// A Sender through the BatchWriter: its packets go at Flush.
	rx, _ := startReceiver(t, ReceiverConfig{})
	s, err := NewSender(bw, rx.LocalAddr(), SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.WriteEncoded(make([]byte, 160)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	waitStats(t, rx, "3 packets", func(st Stats) bool { return st.Received == 3 })
}

// TestBatchWriterErrors: an empty datagram is sent; a datagram the socket
// cannot send (an IPv6 destination from an IPv4 socket) is reported by
// Flush and skipped, the others of the batch are sent; a closed socket is
// reported.
func TestBatchWriterErrors(t *testing.T) {
	if _, err := NewBatchWriter(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewBatchWriter(nil) = %v, want ErrInvalidConfig", err)
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	bw, err := NewBatchWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	// An empty datagram is sent as one.
	if _, err := bw.WriteToUDPAddrPort(nil, to); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatalf("Flush of an empty datagram: %v", err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := rx.ReadFromUDPAddrPort(make([]byte, 8)); err != nil || n != 0 {
		t.Fatalf("empty datagram: read %d bytes, %v", n, err)
	}
	bad := netip.MustParseAddrPort("[2001:db8::1]:4000")
	for _, dst := range []netip.AddrPort{to, bad, to} {
		if _, err := bw.WriteToUDPAddrPort([]byte("x"), dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err == nil || !strings.Contains(err.Error(), "2001:db8::1") {
		t.Errorf("Flush = %v, want the failure to send to %v", err, bad)
	}
	buf := make([]byte, 8)
	for i := range 2 {
		_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("datagram %d of the two good ones: %v", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Errorf("a second Flush = %v, want nil (the failure was reported)", err)
	}
	_ = conn.Close()
	if _, err := bw.WriteToUDPAddrPort([]byte("x"), to); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush on a closed socket = %v, want net.ErrClosed", err)
	}
}

// TestBatchWriterDoesNotAllocate: queueing and flushing allocate nothing.
func TestBatchWriterDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bw, err := NewBatchWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 172)
	if n := testing.AllocsPerRun(100, func() {
		for range 10 {
			_, _ = bw.WriteToUDPAddrPort(pkt, to)
		}
		_ = bw.Flush()
	}); n != 0 {
		t.Errorf("%v allocations per 10 writes and a Flush", n)
	}
}

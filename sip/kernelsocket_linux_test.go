package sip

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestKernelReaderFlushSkipsRefused: an answer the kernel refuses (here a
// destination port 0, which UDP refuses with EINVAL) is counted and
// skipped, and the answers queued around it still leave — whether it is
// the first of a sendmmsg(2) batch (which then reports the error), in the
// middle (sendmmsg stops before it, the rest goes in the next call) or
// alone (sendto(2)). After close, what is queued is counted as failed with
// net.ErrClosed and nothing is sent.
func TestKernelReaderFlushSkipsRefused(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	refused := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)

	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	k := newKernelSocket(u, 1)
	if k == nil {
		t.Fatal("newKernelSocket: the socket cannot be read in the kernel")
	}
	r := k.newReader()

	expect := func(t *testing.T, want ...string) {
		t.Helper()
		buf := make([]byte, 64)
		for _, w := range want {
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := peer.Read(buf)
			if err != nil || string(buf[:n]) != w {
				t.Fatalf("peer got %q, %v; want %q", buf[:n], err, w)
			}
		}
		_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := peer.Read(buf); err == nil {
			t.Fatalf("peer got %q more than %q", buf[:n], want)
		}
	}
	queue := func(t *testing.T, msg string, dst netip.AddrPort) {
		t.Helper()
		if err := r.queue([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
	}
	failures := func(t *testing.T, want int, wantErr error) {
		t.Helper()
		n, err := r.sendFailures()
		if n != want || (want > 0 && !errors.Is(err, wantErr)) || (want == 0 && err != nil) {
			t.Fatalf("sendFailures = %d, %v; want %d, %v", n, err, want, wantErr)
		}
	}

	for _, tc := range []struct {
		name  string
		order []bool // true: to the peer
		want  []string
	}{
		{"refused first", []bool{false, true, true}, []string{"1", "2"}},
		{"refused in the middle", []bool{true, false, true}, []string{"0", "2"}},
		{"refused last", []bool{true, true, false}, []string{"0", "1"}},
		{"refused alone", []bool{false}, nil},
		{"two refused", []bool{false, true, false, true}, []string{"1", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusals := 0
			for i, good := range tc.order {
				dst := to
				if !good {
					dst, refusals = refused, refusals+1
				}
				queue(t, string(rune('0'+i)), dst)
			}
			r.flush()
			expect(t, tc.want...)
			failures(t, refusals, syscall.EINVAL)
			failures(t, 0, nil) // sendFailures resets
		})
	}

	queue(t, "late", to)
	queue(t, "later", to)
	k.close()
	r.flush()
	expect(t)
	failures(t, 2, net.ErrClosed)
	k.readerDone()
}

//go:build linux

package recording

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestYieldLetsNetworkPoll: with one P, a goroutine woken by the network
// (a media worker's socket) runs when an encoder yields — at the first
// yield, or the second when the encoder's own timer came out of the same
// poll first. runtime.Gosched would not do (the runtime polls the network
// only when a P has nothing else to run, or every 10 ms from sysmon): the
// yielder parks in the network poller instead.
func TestYieldLetsNetworkPoll(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	y := newYielder()
	if y == nil {
		t.Fatal("no timerfd")
	}
	defer y.close()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(t, err)
	defer rx.Close()
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	must(t, err)
	defer tx.Close()
	var got atomic.Bool
	reading := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [16]byte
		reading <- struct{}{} // with one P this goroutine runs on into the read and parks there
		if _, err := rx.Read(b[:]); err == nil {
			got.Store(true)
		}
	}()
	<-reading
	if _, err := tx.Write([]byte("rtp")); err != nil {
		t.Fatal(err)
	}
	// The datagram is in the socket; nothing has polled for it.
	yields := 0
	for ; yields < 2 && !got.Load(); yields++ {
		y.yield()
	}
	if !got.Load() {
		t.Fatalf("the reader did not run in %d yields", yields)
	}
	<-done
	if n := testing.AllocsPerRun(50, y.yield); n != 0 {
		t.Errorf("%.1f allocations per yield", n)
	}
}

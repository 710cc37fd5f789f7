package siprec

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/media"
)

// TestSRSLatchHijackSipp runs issue 14 item 2's RTP hijack against the
// Server, with sipp as the real recording client (siprec_src.xml: two
// labelled PCMU streams for 5 s). An attacker sprays PCMU at every RTP port
// of the Server's range, about 1,000 packets a second per port, from
// another address (127.0.0.2) and from another port of the client's
// address, starting before the INVITE and going on until the BYE — the
// attack that won the latch when ports were handed out in order. With the
// default strict latching the recording holds sipp's two files sample for
// sample, from sipp's SSRC, and every stream counted the attacker's packets
// as strangers.
func TestSRSLatchHijackSipp(t *testing.T) {
	pool := srsPool(t, 4)
	var ports []int // the whole range: the attacker need not guess
	var eps []*media.Endpoint
	for range pool.Size() {
		ep, err := pool.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
		ports = append(ports, ep.Port())
	}
	for _, ep := range eps {
		_ = ep.Close()
	}
	e := newSRSEnv(t, Config{Ports: pool})

	var conns []*net.UDPConn
	for _, a := range []string{"127.0.0.2:0", "127.0.0.1:0"} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(a)))
		if err != nil {
			t.Skipf("cannot bind %s (on Linux every 127/8 address is loopback's): %v", a, err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xBAD00000 + uint32(i)}, Payload: bytes.Repeat([]byte{0xAA}, 160)}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p.SequenceNumber, p.Timestamp = uint16(n), uint32(n*160)
				b, _ := p.Marshal()
				for _, port := range ports {
					if _, err := c.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err == nil {
						sent.Add(1)
					}
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); sent.Load() < 400 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}

	dir := srsSippDir(t, "siprec_src.xml")
	if _, err := runSRSSipp(t, e, dir, "siprec_src.xml", sipptest.UDP); err != nil {
		t.Fatal(err)
	}
	k := e.sinks.wait(t)
	if r := k.waitEnd(t); r != EndBye {
		t.Fatalf("end reason %v, want bye", r)
	}
	srsMatchAudio(t, "1", k.chunks("1"), srsRawPCM(t, "tone440_pcmu.raw"))
	srsMatchAudio(t, "2", k.chunks("2"), srsRawPCM(t, "tone880_pcmu.raw"))
	for _, label := range []string{"1", "2"} {
		st, _ := k.sess.Stream(label)
		if st == nil {
			t.Fatalf("no stream %s", label)
		}
		s := st.Stats()
		if s.Received < 200 || s.SSRC != 0xCA110000 || s.Source != st.Remote() {
			t.Errorf("label %s: %d packets from SSRC %#x at %v, want ~250 from sipp's 0xCA110000 at the offer's %v", label, s.Received, s.SSRC, s.Source, st.Remote())
		}
		if s.Strangers < 100 {
			t.Errorf("label %s: %d strangers' packets counted, want the attacker's (hundreds)", label, s.Strangers)
		}
	}
}

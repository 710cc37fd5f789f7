package siprec

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/media"
)

// BenchmarkForkWriteEncoded measures the per-packet fork path: one 20 ms
// G.711 frame (160 bytes) of one stream written to a Fork, which packetises
// it and sends it over UDP on loopback to every recorder. pkts/s counts RTP
// packets sent (frames × recorders) per second of one core.
func BenchmarkForkWriteEncoded(b *testing.B) {
	c, _ := newTestClient(b, ClientConfig{})
	frame := make([]byte, 160)
	media.EncodePCMU(frame, tone(440, 160))
	for _, bc := range []struct {
		name      string
		codec     media.Codec
		recorders int
		paused    bool
	}{
		{"recorders=1", pcmu, 1, false},
		{"recorders=3", pcmu, 3, false},
		{"transcode-to-PCMA", pcma, 1, false},
		{"paused", pcmu, 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := newTestManager(b, c, ManagerConfig{})
			liveRecorders(b, c, m, bc.recorders, bc.codec)
			m.paused.Store(bc.paused)
			f := m.Forks()[0]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = f.WriteEncoded(media.EncodingPCMU, frame)
			}
			if !bc.paused { // paused: nothing is sent, only timestamps advance
				b.ReportMetric(float64(b.N*bc.recorders)/b.Elapsed().Seconds(), "pkts/s")
			}
		})
	}
}

// BenchmarkStartStop measures SIPREC dialogs started per second: each
// operation is a Start (INVITE with the multipart body, 200 with the SDP
// answer, ACK) and a Stop (BYE, 200) against sipp as the recording server
// on loopback over TCP, 16 calls in parallel. It needs sipp.
func BenchmarkStartStop(b *testing.B) {
	c, _ := newTestClient(b, ClientConfig{})
	discard, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer discard.Close()
	port := itoa(discard.LocalAddr().(*net.UDPAddr).Port)
	p := sipptest.Start(b, sipptest.Options{
		Scenario:  filepath.Join("testdata", "srs_uas.xml"),
		Transport: sipptest.TCP,
		Calls:     -1,
		Timeout:   10 * time.Minute,
		Args:      []string{"-key", "srs_p1", port, "-key", "srs_p2", port, "-max_socket", "1000"},
	})
	waitListening(b, p.Addr())
	uri := mustParseURI("sip:srs@" + p.Addr() + ";transport=tcp")
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m, err := c.NewManager(ManagerConfig{Call: testCall()})
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if _, err := m.Start(context.Background(), StartRequest{Recorders: URIList{uri}, RecordingID: "bench"}); err != nil {
				b.Error(err)
				return
			}
			if _, err := m.Stop(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dialogs/s")
}

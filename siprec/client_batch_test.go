package siprec

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

// ClientConfig.RTPConn through a media.BatchWriter (as siprec-load sends):
// every stream's packets leave from the shared socket's port, the one the
// SDP offer names, only when the writer is flushed, and the recording
// server decodes each stream's tone. A RTPConn whose address is not UDP is
// refused by NewClient.
func TestClientBatchWriterRTPConn(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bw, err := media.NewBatchWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	e := newSRSEnv(t, clientSRSConfig(t))
	c, _ := newTestClient(t, ClientConfig{RTPConn: bw})
	m := newTestManager(t, c, ManagerConfig{})
	uri := mustParseURI(fmt.Sprintf("sip:srs@127.0.0.1:%d;transport=tcp", e.port))
	if _, err := m.Start(t.Context(), StartRequest{Recorders: URIList{uri}, RecordingID: "rec-batch"}); err != nil {
		t.Fatal(err)
	}
	k := e.sinks.wait(t)
	forks := m.Forks()
	if len(forks) != 2 {
		t.Fatalf("%d forks, want 2", len(forks))
	}
	tones := [][]int16{tone(440, media.SampleRate), tone(880, media.SampleRate)}
	enc := make([]byte, 160)
	write := func(pos int) {
		for i, f := range forks {
			media.EncodePCMU(enc, tones[i][pos:pos+160])
			if err := f.WriteEncoded(media.EncodingPCMU, enc); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0)
	if q := bw.Queued(); q != 2 {
		t.Fatalf("%d datagrams queued after one frame per fork, want 2 (nothing sent before Flush)", q)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for pos := 160; k.audioSamples("1") < 4000 || k.audioSamples("2") < 4000; pos = (pos + 160) % media.SampleRate {
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-tick.C:
		case <-time.After(20 * time.Second):
			t.Fatal("timeout")
		}
		if pos > 3*media.SampleRate/2 && k.audioSamples("1") == 0 {
			t.Fatal("no audio at the server after 1.5 s of frames")
		}
		write(pos)
	}
	for i, label := range []string{"1", "2"} {
		pcm := sinkPCM(k, label)
		if f, want := frequency(pcm[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
			t.Errorf("stream %s at the server's sink: %.0f Hz, want %.0f Hz", label, f, want)
		}
	}
	if _, err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := k.waitEnd(t); r != EndBye {
		t.Errorf("the session ended with %v, want %v", r, EndBye)
	}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if _, err := NewClient(ClientConfig{RTPConn: notUDP{tcp}}); err == nil {
		t.Error("NewClient took an RTPConn with a TCP address")
	}
	// A typed nil is no RTPConn: each stream gets a port of its own.
	for _, rc := range []RTPConn{(*net.UDPConn)(nil), (*media.BatchWriter)(nil)} {
		c, _ := newTestClient(t, ClientConfig{RTPConn: rc})
		if c.cfg.RTPConn != nil {
			t.Errorf("RTPConn %T(nil) kept", rc)
		}
	}
}

// notUDP is an RTPConn whose local address is a TCP one.
type notUDP struct{ l net.Listener }

func (n notUDP) WriteToUDPAddrPort(p []byte, _ netip.AddrPort) (int, error) { return len(p), nil }
func (n notUDP) LocalAddr() net.Addr                                        { return n.l.Addr() }

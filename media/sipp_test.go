package media

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// TestReceiveFromSipp has sipp, an RTP sender nobody in this project wrote,
// stream one second of a μ-law tone to a Receiver, and compares every
// decoded sample with the file sipp sent.
func TestReceiveFromSipp(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		sipp := testenv.RequireTool(t, "sipp", "apt-get install -y sip-tester")
		dir := t.TempDir()
		scenario, err := filepath.Abs("testdata/sipp_rtp_stream.xml")
		if err != nil {
			t.Fatal(err)
		}
		ulaw := make([]byte, SampleRate) // 1 s of 697 Hz, as a headerless .raw file
		EncodePCMU(ulaw, tone(697, 10000, SampleRate))
		if err := os.WriteFile(filepath.Join(dir, "tone.raw"), ulaw, 0o644); err != nil {
			t.Fatal(err)
		}
		want := make([]int16, len(ulaw))
		DecodePCMU(want, ulaw)

		rx, rec := startReceiver(t, ReceiverConfig{Poller: poller})
		sipPort := strconv.Itoa(testenv.FreePort(t))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sipp, "-sf", scenario,
			"-i", "127.0.0.1", "-p", sipPort, "127.0.0.1:"+sipPort,
			"-mp", strconv.Itoa(testenv.FreeUDPPortPair(t)),
			"-key", "dst_ip", "127.0.0.1", "-key", "dst_port", strconv.Itoa(int(rx.LocalAddr().Port())),
			"-d", "1500", "-m", "1", "-nr", "-nostdin", "-trace_err")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, out)
		}
		waitStats(t, rx, "50 packets from sipp", func(st Stats) bool { return st.Received >= 50 })
		if err := rx.Close(); err != nil {
			t.Fatal(err)
		}
		rec.check(t)
		if !equalPCM(rec.pcm, want) {
			t.Fatalf("decoded %d samples, want the %d of the file sipp streamed", len(rec.pcm), len(want))
		}
		st := rx.Stats()
		checkStats(t, st, map[string]uint64{"Received": 50, "Lost": 0, "Duplicates": 0, "GapSamples": 0, "Samples": SampleRate, "SSRC": 0xCA110000})
		if rec.audio[0].PayloadType != 0 {
			t.Errorf("payload type %d", rec.audio[0].PayloadType)
		}
	})
}

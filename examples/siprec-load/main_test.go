package main

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/media"
)

func TestMain(m *testing.M) {
	// main silences sipgo's package logger; the tests call run directly.
	sipgosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// A short run against sipp as the recording server (the siprec tests'
// scenario, any number of calls): the sessions come up at the rate, stay
// up, send two streams each, and are stopped with BYE at the end.
func TestLoadAgainstSipp(t *testing.T) {
	discard, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer discard.Close()
	port := strconv.Itoa(discard.LocalAddr().(*net.UDPAddr).Port)
	p := sipptest.Start(t, sipptest.Options{
		Scenario:  filepath.Join("..", "..", "siprec", "testdata", "srs_uas.xml"),
		Transport: sipptest.TCP,
		Calls:     20,
		Args:      []string{"-key", "srs_p1", port, "-key", "srs_p2", port},
	})
	time.Sleep(300 * time.Millisecond)
	uri := fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.LocalPort())

	var out, errs strings.Builder
	code := run(t.Context(), []string{"-srs", uri, "-calls", "20", "-rate", "100/s", "-duration", "2s"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	m := regexp.MustCompile(`sessions started (\d+), failed (\d+), hung up by the recorder (\d+), stopped (\d+) \(stop failed (\d+), in [^)]*\); packets sent (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary in:\n%s", out.String())
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(1) != 20 || n(2) != 0 || n(4) != 20 {
		t.Errorf("started %d, failed %d, stopped %d; want 20, 0, 20\n%s", n(1), n(2), n(4), out.String())
	}
	// 20 sessions × 2 streams × 50 packets/s, up for at least 1.6 s of the 2 s.
	if pk := n(6); pk < 20*2*50*16/10 || pk > 20*2*50*2 {
		t.Errorf("%d packets sent, want about %d", pk, 20*2*50*18/10)
	}
	if !strings.Contains(out.String(), "live=20") || !strings.Contains(out.String(), "CPU ") {
		t.Errorf("progress or CPU missing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "RTP send errors") {
		t.Errorf("the batched sends failed:\n%s", out.String())
	}
	if _, err := p.Wait(); err != nil {
		t.Error(err)
	}
}

func TestLoadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-srs is required"},
		{[]string{"-srs", "https://srs.example.com"}, "HTTP URLs"},
		{[]string{"-srs", "sip:127.0.0.1", "-rate", "fast"}, "not a positive rate"},
		{[]string{"-srs", "sip:127.0.0.1", "-calls", "0"}, "-calls 0"},
		{[]string{"-srs", "sips:127.0.0.1", "-srtp", "maybe"}, `-srtp "maybe": want auto or off`},
		{[]string{"-srs", "sips:127.0.0.1", "-tls-ca", "/nonexistent.pem"}, "-tls-ca"},
		{[]string{"-srs", "sip:src:hunter2@127.0.0.1"}, "password"},
		{[]string{"-srs", "sip:127.0.0.1", "-tones", "400,440"}, `-tones: "440" is not a multiple of 50 Hz`},
		{[]string{"-srs", "sip:127.0.0.1", "-tones", "4000"}, `-tones: "4000"`},
	} {
		var out, errs strings.Builder
		if code := run(t.Context(), tc.args, &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs.String(), tc.want)
		}
		if strings.Contains(errs.String(), "hunter2") {
			t.Errorf("%v: stderr shows the password: %q", tc.args, errs.String())
		}
	}
}

// A recording server that hangs up every session after 1 s (sipp
// srs_bye.xml): siprec-load replaces the sessions, and the packets sent to
// the recorders that hung up still count in "packets sent".
func TestLoadCountsPacketsOfHungUpSessions(t *testing.T) {
	discard, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer discard.Close()
	port := strconv.Itoa(discard.LocalAddr().(*net.UDPAddr).Port)
	p := sipptest.Start(t, sipptest.Options{
		Scenario:  filepath.Join("..", "..", "siprec", "testdata", "srs_bye.xml"),
		Transport: sipptest.TCP,
		Calls:     10,
		Args:      []string{"-key", "srs_p1", port, "-key", "srs_p2", port, "-d", "1000"},
	})
	time.Sleep(300 * time.Millisecond)
	uri := fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.LocalPort())

	var out, errs strings.Builder
	code := run(t.Context(), []string{"-srs", uri, "-calls", "5", "-rate", "100/s", "-duration", "1800ms"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	m := regexp.MustCompile(`hung up by the recorder (\d+),.*packets sent (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary in:\n%s", out.String())
	}
	hungUp, _ := strconv.Atoi(m[1])
	sent, _ := strconv.Atoi(m[2])
	if hungUp != 5 {
		t.Fatalf("%d sessions hung up by the recorder, want 5\n%s", hungUp, out.String())
	}
	// 5 sessions × 2 streams × 50 packets/s: about 1 s to the recorders
	// that hung up and about 0.75 s to their replacements, never more than
	// 5 sessions at once for 1.8 s. Counting only the replacements would
	// give about 375.
	if sent < 5*100*15/10 || sent > 5*100*19/10 {
		t.Errorf("%d packets sent, want about 875 (between 750 and 950)\n%s", sent, out.String())
	}
	if !regexp.MustCompile(`(?m)^rtp stopped: \S+$`).MatchString(out.String()) {
		t.Errorf("no \"rtp stopped:\" line:\n%s", out.String())
	}
}

// With -tones each stream of a session sends its own tone, in the order of
// the session's streams: sipp answers the two m-lines on two ports, and
// the RTP that arrives on each is the tone asked for it and not the other.
func TestLoadTones(t *testing.T) {
	var socks [2]*net.UDPConn
	var ports [2]string
	for i := range socks {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		socks[i], ports[i] = c, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	}
	p := sipptest.Start(t, sipptest.Options{
		Scenario:  filepath.Join("..", "..", "siprec", "testdata", "srs_uas.xml"),
		Transport: sipptest.TCP,
		Calls:     1,
		Args:      []string{"-key", "srs_p1", ports[0], "-key", "srs_p2", ports[1]},
	})
	time.Sleep(300 * time.Millisecond)
	uri := fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.LocalPort())

	// 20 packets of each stream: 0.4 s, whole periods of both tones.
	const packets = 20
	var pcm [2][]int16
	done := make(chan int, 2)
	for i, c := range socks {
		go func() {
			defer func() { done <- i }()
			buf := make([]byte, 1500)
			out := make([]int16, 160)
			for len(pcm[i]) < packets*160 {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if n != 12+160 || buf[1]&0x7f != 0 { // RTP header, PCMU, 20 ms
					continue
				}
				media.DecodePCMU(out, buf[12:n])
				pcm[i] = append(pcm[i], out...)
			}
		}()
	}
	var out, errs strings.Builder
	if code := run(t.Context(), []string{"-srs", uri, "-calls", "1", "-rate", "100/s", "-duration", "1500ms", "-tones", "400,1000"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	<-done
	<-done
	level := func(x []int16, hz float64) float64 { // amplitude of the hz component
		var re, im float64
		for n, v := range x {
			a := 2 * math.Pi * hz * float64(n) / 8000
			re += float64(v) * math.Cos(a)
			im += float64(v) * math.Sin(a)
		}
		return 2 * math.Hypot(re, im) / float64(len(x))
	}
	for i, want := range []float64{400, 1000} {
		other := 1400 - want
		if len(pcm[i]) < packets*160 {
			t.Fatalf("stream %d: %d samples received, want %d", i, len(pcm[i]), packets*160)
		}
		if a, b := level(pcm[i], want), level(pcm[i], other); a < 7000 || b > 200 {
			t.Errorf("stream %d: %v Hz at amplitude %.0f, %v Hz at %.0f; want about 8000 and 0", i, want, a, other, b)
		}
	}
	if _, err := p.Wait(); err != nil {
		t.Error(err)
	}
}

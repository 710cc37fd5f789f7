package main

import (
	"fmt"
	"log/slog"
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

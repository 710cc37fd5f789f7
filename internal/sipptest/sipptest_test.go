package sipptest

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// TestUACAgainstUAS runs sipp's own default UAC and UAS scenarios (dumped
// with sipp -sd into testdata) against each other, over UDP and TCP.
func TestUACAgainstUAS(t *testing.T) {
	for _, tr := range []Transport{UDP, TCP} {
		t.Run(string(tr), func(t *testing.T) {
			uas := Start(t, Options{Scenario: "testdata/uas.xml", Transport: tr, Timeout: 30 * time.Second})
			time.Sleep(300 * time.Millisecond) // let the UAS bind before the UAC sends
			res, err := Run(t, Options{Scenario: "testdata/uac.xml", Remote: uas.Addr(), Transport: tr, Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 0 || res.Successful != 1 || res.Failed != 0 {
				t.Fatalf("UAC result: exit %d, successful %d, failed %d", res.ExitCode, res.Successful, res.Failed)
			}
			// a UAS that answers at once causes no retransmission; sipp used some CPU
			if res.Retransmissions != 0 || res.CPU <= 0 {
				t.Fatalf("UAC result: %d retransmissions, CPU %s", res.Retransmissions, res.CPU)
			}
			ures, err := uas.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if ures.Successful != 1 {
				t.Fatalf("UAS counted %d successful calls", ures.Successful)
			}
		})
	}
}

// TestFailureQuotesOutput: a UAC sending to a port where nobody answers
// fails, and the error carries sipp's own account of the failure.
func TestFailureQuotesOutput(t *testing.T) {
	nobody := testenv.FreePort(t)
	res, err := Run(t, Options{
		Scenario: "testdata/uac.xml",
		Remote:   "127.0.0.1:" + strconv.Itoa(nobody),
		Args:     []string{"-recv_timeout", "300", "-max_retrans", "1", "-ap", "hunter2"},
		Timeout:  30 * time.Second,
	})
	var re *RunError
	if !errors.As(err, &re) || !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want a *RunError matching ErrFailed", err)
	}
	if res.ExitCode != 1 || res.Failed != 1 || res.Successful != 0 {
		t.Fatalf("result: exit %d, successful %d, failed %d", res.ExitCode, res.Successful, res.Failed)
	}
	msg := err.Error()
	for _, want := range []string{"exit status 1", "command: sipp -sf", "--- stdout ---", "Failed call"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(strings.Join(res.Args, " "), "hunter2") {
		t.Error("the -ap password appears in the error or Result.Args")
	}
}

// TestTimeoutKills: a UAS that never gets a call is killed at the timeout
// (without the kill, it would wait for a call until the test binary's own
// timeout).
func TestTimeoutKills(t *testing.T) {
	res, err := Run(t, Options{Scenario: "testdata/uas.xml", Timeout: time.Second})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if res.ExitCode != -1 {
		t.Fatalf("exit code %d, want -1 (killed by a signal)", res.ExitCode)
	}
}

// TestKillIsNotATimeout: a run stopped by Kill (or the caller's context)
// is not reported as a timeout.
func TestKillIsNotATimeout(t *testing.T) {
	p := Start(t, Options{Scenario: "testdata/uas.xml", Timeout: time.Minute})
	p.Kill()
	res, err := p.Wait()
	if errors.Is(err, ErrTimeout) || !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed and not ErrTimeout", err)
	}
	if res.ExitCode != -1 {
		t.Fatalf("exit code %d, want -1 (killed by a signal)", res.ExitCode)
	}
}

func TestOptionsErrors(t *testing.T) {
	path := Path(t)
	if _, err := Launch(t.Context(), path, Options{}); err == nil {
		t.Error("empty scenario accepted")
	}
	if _, err := Launch(t.Context(), path, Options{Scenario: "testdata/nope.xml"}); err == nil {
		t.Error("missing scenario accepted")
	}
}

func TestParseStats(t *testing.T) {
	st := parseStats([]byte("A;SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n1;2;3;0;\n4;5;6;7;\n"))
	if st != (stats{5, 6, 7}) {
		t.Fatalf("parseStats = %+v, want the last line's 5, 6, 7", st)
	}
	if st := parseStats([]byte("A;SuccessfulCall(C);\n1;9;\n")); st != (stats{9, -1, -1}) {
		t.Fatalf("parseStats without the failed and retransmission columns = %+v", st)
	}
	if st := parseStats([]byte("header only")); st != (stats{-1, -1, -1}) {
		t.Fatalf("parseStats(header only) = %+v", st)
	}
}

// TestLostPort: sipp whose SIP port another socket holds exits at once,
// and lostPort says so (Start then picks another port); a sipp that bound
// its port is not mistaken for one that lost it.
func TestLostPort(t *testing.T) {
	path := Path(t)
	for _, tr := range []Transport{UDP, TCP} {
		t.Run(string(tr), func(t *testing.T) {
			port := testenv.FreePort(t)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			if tr == UDP {
				c, err := net.ListenPacket("udp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			} else {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
			}
			p, err := Launch(t.Context(), path, Options{Scenario: "testdata/uas.xml", Transport: tr, LocalPort: port, Dir: t.TempDir(), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			if !p.lostPort() {
				r, err := p.Wait()
				t.Fatalf("lostPort = false for a port held by another socket; sipp: %v %+v", err, r)
			}

			q, err := Launch(t.Context(), path, Options{Scenario: "testdata/uas.xml", Transport: tr, LocalPort: testenv.FreePort(t), Dir: t.TempDir(), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Kill()
			if q.lostPort() {
				t.Fatal("lostPort = true for a sipp that bound its port")
			}
		})
	}
}

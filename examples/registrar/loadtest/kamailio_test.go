package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
)

// TestKamailioAnchor keeps the harness's anchor from rotting: Kamailio
// starts with testdata/kamailio-registrar.cfg as the harness fills it in,
// registers the user with sipp's register_auth.xml (the scenario of the
// load steps) and refuses a wrong password, answers statelessly (an INVITE
// gets its 405 once, never retransmitted), and the harness finds its
// worker processes for the CPU figure. Not a load run: one registration.
func TestKamailioAnchor(t *testing.T) {
	path := testenv.RequireTool(t, "kamailio", kamailioInstall)
	sipptest.Path(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	k, err := startKamailio(path, t.TempDir(), kamailioParams{Addr: addr, Children: 2, Realm: realm, User: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.stop)

	// the pids summed for its CPU: the main process, 2 UDP and 2 TCP
	// workers, and the TCP main and timer processes
	pids := k.pids()
	t.Logf("Kamailio processes: %d", len(pids))
	if len(pids) < 1+2+2 {
		t.Errorf("found %d Kamailio processes (%v), want the main one and at least 4 workers", len(pids), pids)
	}

	scenario := "../testdata/register_auth.xml"
	res, err := sipptest.Run(t, sipptest.Options{
		Scenario: scenario, Remote: addr, Timeout: 20 * time.Second,
		Args: []string{"-s", user, "-au", user, "-ap", password, "-buff_size", "4194304"},
	})
	if err != nil {
		t.Fatalf("registering with the anchor's configuration: %v\nkamailio log:\n%s", err, k.log.String())
	}
	if res.Successful != 1 || res.Retransmissions != 0 {
		t.Fatalf("sipp: %d successful, %d retransmissions; want 1, 0", res.Successful, res.Retransmissions)
	}

	// a wrong password is refused: the anchor really checks the digest
	res, err = sipptest.Run(t, sipptest.Options{
		Scenario: scenario, Remote: addr, Timeout: 20 * time.Second,
		Args: []string{"-s", user, "-au", user, "-ap", "wrong-" + password, "-recv_timeout", "2000"},
	})
	if err == nil || res.Successful != 0 {
		t.Fatalf("a wrong password registered (successful %d)", res.Successful)
	}

	// stateless: the 405 to an INVITE is sent once (a transaction would
	// retransmit it at T1 = 0.5 s and 1.5 s until an ACK)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	invite := fmt.Sprintf("INVITE sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-anchor-1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=1\r\nTo: <sip:alice@%s>\r\nCall-ID: anchor-1@%s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		addr, local, local, addr, local)
	if _, err := c.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	var answers []string
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(1800 * time.Millisecond))
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		answers = append(answers, string(bytes.SplitN(buf[:n], []byte("\r\n"), 2)[0]))
	}
	if len(answers) != 1 || !strings.HasPrefix(answers[0], "SIP/2.0 405") {
		t.Fatalf("answers to an INVITE within 1.8 s: %q; want one 405", answers)
	}
}

// TestProcStat reads this process's own /proc/PID/stat the way the harness
// reads the servers'.
func TestProcStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if st.ppid <= 0 {
		t.Errorf("ppid %d", st.ppid)
	}
	// burn some CPU so that at least a clock tick is counted
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = strconv.Itoa(x)
	}
	if cpu := cpuOf([]int{os.Getpid()}); cpu <= 0 {
		t.Errorf("CPU of this process: %s after 50 ms of work", cpu)
	}
	if tree := processTree(os.Getpid()); len(tree) < 1 || tree[0] != os.Getpid() {
		t.Errorf("processTree = %v, want this process first", tree)
	}
}

func TestParseOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-transport", "sctp"},
		{"-sipp-mode", "2"},
		{"-rates", "1000,x"},
		{"-rates", "0"},
		{"-servers", "asterisk"},
		{"-step", "100ms"},
	} {
		if _, err := parseOptions(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	o, err := parseOptions([]string{"-transport", "udp", "-sipp-mode", "n", "-rates", "100, 200", "-servers", "registrar"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.transport != "un" || len(o.rates) != 2 || o.rates[1] != 200 || len(o.servers) != 1 {
		t.Errorf("options = %+v", o)
	}
}

// TestSummarize: the throughput is the highest clean rate, and CPU per
// registration is compared at every rate both servers ran, saying which
// were not clean for both.
func TestSummarize(t *testing.T) {
	s := func(server string, rate int, cpu time.Duration, why string) step {
		return step{server: server, rate: rate, calls: rate, ok: rate, elapsed: time.Second, serverCPU: cpu, why: why}
	}
	var out bytes.Buffer
	summarize(&out, []step{
		s("kamailio", 1000, 30*time.Millisecond, ""),
		s("registrar", 1000, 60*time.Millisecond, ""),
		s("kamailio", 2000, 40*time.Millisecond, ""),
		s("registrar", 2000, 100*time.Millisecond, "retransmissions"),
		s("registrar", 1000, 45*time.Millisecond, ""), // a rate run again pairs with its second run
		s("kamailio", 1000, 30*time.Millisecond, ""),
	}, []string{"kamailio", "registrar"})
	got := out.String()
	for _, want := range []string{
		"kamailio    2000/s offered",
		"registrar   1000/s offered",
		"1000 / 2000 = 0.50×",
		"CPU per registration at 1000/s: 60.0 / 30.0 µs = 2.00× (goal ≤ 1.0×; both clean)",
		"at 2000/s: 50.0 / 20.0 µs = 2.50× (goal ≤ 1.0×; not both clean",
		"CPU per registration at 1000/s: 45.0 / 30.0 µs = 1.50×",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

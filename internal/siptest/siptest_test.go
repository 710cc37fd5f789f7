package siptest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// TestServeAnswersOverUDPAndTCP runs a server through Serve and asks it
// OPTIONS from a NewClient over both transports: the same port answers
// both, and the request arrives from the client's host.
func TestServeAnswersOverUDPAndTCP(t *testing.T) {
	srv, _ := NewServer(t, Config{})
	var mu sync.Mutex
	var from []string
	srv.OnOptions(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		mu.Lock()
		from = append(from, req.Transport()+" "+req.Source())
		mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	addr := Serve(t, srv)
	host, port, _ := net.SplitHostPort(addr)
	if host != Host {
		t.Fatalf("Serve = %s, want loopback %s", addr, Host)
	}
	c, _ := NewClient(t, Config{})
	for _, tr := range []string{"UDP", "TCP"} {
		req := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: host, Port: atoi(t, port)})
		req.SetTransport(tr)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		res, err := c.Do(ctx, req)
		cancel()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("OPTIONS over %s: %v %v", tr, res, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(from) != 2 || !strings.HasPrefix(from[0], "UDP 127.0.0.1:") || !strings.HasPrefix(from[1], "TCP 127.0.0.1:") {
		t.Fatalf("requests seen %v, want one UDP and one TCP from 127.0.0.1", from)
	}
}

// TestClientOnAnotherLoopbackSendsFromIt: a client configured on
// 127.0.0.2 (another host, for the tests that need one) sends from it.
func TestClientOnAnotherLoopbackSendsFromIt(t *testing.T) {
	if l, err := net.ListenPacket("udp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	} else {
		_ = l.Close()
	}
	srv, _ := NewServer(t, Config{})
	got := make(chan string, 1)
	srv.OnOptions(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		got <- req.Source()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	_, port, _ := net.SplitHostPort(Serve(t, srv))
	c, _ := NewClient(t, Config{Host: "127.0.0.2"})
	req := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: Host, Port: atoi(t, port)})
	req.SetTransport("UDP")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if res, err := c.Do(ctx, req); err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}
	if src := <-got; !strings.HasPrefix(src, "127.0.0.2:") {
		t.Fatalf("request came from %s, want 127.0.0.2", src)
	}
}

// TestLoggerReceivesSipgoLogs: sipgo's logs go to Config.Logger (here the
// transport layer's complaint about a datagram that is not SIP).
func TestLoggerReceivesSipgoLogs(t *testing.T) {
	var buf lockedBuffer
	srv, _ := NewServer(t, Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	addr := Serve(t, srv)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for buf.len() == 0 && time.Now().Before(deadline) {
		_, _ = conn.Write([]byte("not SIP at all\r\n\r\n"))
		time.Sleep(20 * time.Millisecond)
	}
	if buf.len() == 0 {
		t.Fatal("sipgo logged nothing to Config.Logger for a datagram that is not SIP")
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("port %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

package sip

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// frameLog records a framer's events.
type frameLog struct {
	events []string
	heads  [][]byte
}

func (l *frameLog) started()   { l.events = append(l.events, "start") }
func (l *frameLog) completed() { l.events = append(l.events, "done") }
func (l *frameLog) keepalive() {
	// CRLFs may arrive split over reads: record one per run
	if n := len(l.events); n == 0 || l.events[n-1] != "ka" {
		l.events = append(l.events, "ka")
	}
}
func (l *frameLog) tooLarge(head []byte, final bool) {
	l.events = append(l.events, fmt.Sprintf("large(final=%v)", final))
	l.heads = append(l.heads, bytes.Clone(head))
}

// frameAll feeds data to a new framer in chunks of the given sizes
// (cycled) and returns what it passed on, its events, and whether it
// could go on.
func frameAll(data []byte, limit int, chunks []int) ([]byte, *frameLog, bool) {
	f := &streamFramer{max: limit}
	ev := &frameLog{}
	var out []byte
	for i, c := 0, 0; i < len(data); c++ {
		n := len(data) - i
		if len(chunks) > 0 {
			n = min(n, max(1, chunks[c%len(chunks)]))
		}
		in := bytes.Clone(data[i : i+n]) // feed compacts its input
		got, ok := f.feed(in, ev)
		out = append(out, got...)
		if !ok {
			return out, ev, false
		}
		i += n
	}
	return out, ev, true
}

func sipMessage(method, callID string, body string, extra ...string) string {
	h := "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: 1 " + method + "\r\n"
	for _, e := range extra {
		h += e + "\r\n"
	}
	return method + " sip:b@example.test SIP/2.0\r\n" + h + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

func TestStreamFramer(t *testing.T) {
	small := sipMessage("OPTIONS", "c1", "")
	withBody := sipMessage("INVITE", "c2", strings.Repeat("b", 300))
	big := sipMessage("INVITE", "c3", strings.Repeat("B", 2000))
	compact := strings.Replace(sipMessage("MESSAGE", "c4", "hello"), "Content-Length:", "l:", 1)
	tests := []struct {
		name   string
		in     string
		want   string // passed on
		events string
		goesOn bool
	}{
		{"one message", small, small, "start done", true},
		{"keep-alives around messages", "\r\n\r\n" + small + "\r\n" + withBody, "\r\n\r\n" + small + "\r\n" + withBody, "ka start done ka start done", true},
		{"compact Content-Length", compact, compact, "start done", true},
		{"too large dropped whole, the next one passes", big + small, small, "start large(final=false) done start done", true},
		{"header section over the limit", "INVITE sip:x SIP/2.0\r\nSubject: " + strings.Repeat("s", 1200), "", "start large(final=true)", false},
		{"no Content-Length: passed unframed", "OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n" + small, "OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n" + small, "start", true},
		{"bad Content-Length", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\nzzz", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\nzzz", "start", true},
		{"incomplete body", withBody[:len(withBody)-10], withBody[:len(withBody)-10], "start", true},
	}
	for _, tt := range tests {
		for _, chunks := range [][]int{nil, {1}, {7, 3, 100}, {64}} {
			t.Run(fmt.Sprintf("%s/chunks=%v", tt.name, chunks), func(t *testing.T) {
				out, ev, ok := frameAll([]byte(tt.in), 1000, chunks)
				if string(out) != tt.want {
					t.Fatalf("passed on %q\nwant %q", out, tt.want)
				}
				if got := strings.Join(ev.events, " "); got != tt.events {
					t.Fatalf("events %q, want %q", got, tt.events)
				}
				if ok != tt.goesOn {
					t.Fatalf("goes on = %v", ok)
				}
			})
		}
	}
	// the header section of a message refused as too large is what a 513 is built from
	_, ev, _ := frameAll([]byte(big), 1000, []int{5})
	if len(ev.heads) != 1 || !bytes.HasSuffix(ev.heads[0], []byte("Content-Length: 2000\r\n\r\n")) || !bytes.HasPrefix(ev.heads[0], []byte("INVITE ")) {
		t.Fatalf("head %q", ev.heads)
	}
}

// TestStreamFramerAllocations: a stream of whole messages is framed
// without allocating.
func TestStreamFramerAllocations(t *testing.T) {
	data := []byte(sipMessage("OPTIONS", "a1", "") + sipMessage("INVITE", "a2", strings.Repeat("b", 500)) + "\r\n\r\n")
	f := &streamFramer{max: DefaultMaxMessageSize}
	ev := &frameLog{}
	buf := make([]byte, len(data))
	allocs := testing.AllocsPerRun(100, func() {
		ev.events = ev.events[:0]
		copy(buf, data)
		if _, ok := f.feed(buf, nopFrameEvents{}); !ok {
			t.Fatal("stopped")
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per feed", allocs)
	}
}

type nopFrameEvents struct{}

func (nopFrameEvents) started()              {}
func (nopFrameEvents) completed()            {}
func (nopFrameEvents) keepalive()            {}
func (nopFrameEvents) tooLarge([]byte, bool) {}

// FuzzStreamFramer checks two properties. On any bytes, fed in any
// chunks, the framer passes on the same bytes and reports the same events
// as when fed at once. On a stream built from well-formed messages (with
// keep-alives between them), what it passes on is exactly the messages
// within the limit, which sipgo's stream parser reads back as those
// messages (the round trip), and it reports one completed message each.
func FuzzStreamFramer(f *testing.F) {
	f.Add([]byte(sipMessage("OPTIONS", "x", "")+"\r\n\r\n"+sipMessage("INVITE", "y", "body")), uint64(1), uint16(300))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nl: 3\r\n\r\nabcINVITE"), uint64(2), uint16(10))
	f.Add([]byte("\r\n\r\n\r\nX\r\n\r\n"), uint64(3), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, max16 uint16) {
		limit := int(max16)%4096 + 1
		rng := rand.New(rand.NewPCG(seed, 7))
		chunks := []int{1 + rng.IntN(64), 1 + rng.IntN(8), 1 + rng.IntN(512)}

		// property 1: chunking does not matter
		whole, ev1, ok1 := frameAll(data, limit, nil)
		split, ev2, ok2 := frameAll(data, limit, chunks)
		if ok1 != ok2 || strings.Join(ev1.events, " ") != strings.Join(ev2.events, " ") {
			t.Fatalf("events differ by chunking:\n%v %v\n%v %v", ev1.events, ok1, ev2.events, ok2)
		}
		// bytes held at the end (an unfinished header section) are not passed on yet
		if !bytes.HasPrefix(whole, split) && !bytes.HasPrefix(split, whole) {
			t.Fatalf("output differs by chunking:\n%q\n%q", whole, split)
		}
		if ok1 && len(whole) > len(data) {
			t.Fatalf("passed on more than it got")
		}

		// property 2: the round trip on well-formed messages
		var stream, want bytes.Buffer
		n := 1 + rng.IntN(4)
		var kept []string
		for i := range n {
			body := string(data[:min(len(data), rng.IntN(200))])
			m := sipMessage("MESSAGE", fmt.Sprintf("call-%d", i), body)
			if rng.IntN(3) == 0 {
				stream.WriteString("\r\n\r\n")
				want.WriteString("\r\n\r\n")
			}
			stream.WriteString(m)
			if len(m) <= limit {
				want.WriteString(m)
				kept = append(kept, fmt.Sprintf("call-%d", i))
			}
		}
		out, ev, ok := frameAll(stream.Bytes(), limit, chunks)
		headOver := false
		for _, e := range ev.events {
			headOver = headOver || e == "large(final=true)"
		}
		if headOver {
			return // a header section alone over the limit: the stream stops there
		}
		if !ok || !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("passed on %q\nwant %q (ok %v)", out, want.Bytes(), ok)
		}
		if done := strings.Count(strings.Join(ev.events, " "), "done"); done != n {
			t.Fatalf("%d messages completed, want %d: %v", done, n, ev.events)
		}
		var got []string
		err := sipgosip.NewParser().NewSIPStream().ParseSIPStream(out, func(m sipgosip.Message) {
			got = append(got, m.(*sipgosip.Request).CallID().Value())
		})
		if err != nil && err != sipgosip.ErrParseSipPartial { // partial: keep-alives at the end
			t.Fatalf("sipgo cannot read what was passed on: %v\n%q", err, out)
		}
		if strings.Join(got, ",") != strings.Join(kept, ",") {
			t.Fatalf("sipgo read %v, want %v", got, kept)
		}
	})
}

// BenchmarkStreamFramer: the Listener's cost per byte of a stream of
// typical messages (an OPTIONS and a 3 KB SIPREC-sized INVITE), read in
// 32 KiB reads as sipgo does.
func BenchmarkStreamFramer(b *testing.B) {
	one := []byte(sipMessage("OPTIONS", "b1", "") + sipMessage("INVITE", "b2", strings.Repeat("m", 3000)))
	var stream []byte
	for len(stream) < 1<<20 {
		stream = append(stream, one...)
	}
	buf := make([]byte, 32<<10)
	f := &streamFramer{max: DefaultMaxMessageSize}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(stream); i += len(buf) {
			n := copy(buf, stream[i:])
			if _, ok := f.feed(buf[:n], nopFrameEvents{}); !ok {
				b.Fatal("stopped")
			}
		}
	}
}

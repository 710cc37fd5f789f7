package media

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

const (
	ssrcA = 0x1111aaaa
	ssrcB = 0x2222bbbb
)

// step is one datagram of a scenario.
type step struct {
	from    int    // 0: the first peer (the source); 1: a second peer
	seq     uint16 //
	ts      uint32 //
	ssrc    uint32 // default ssrcA
	pt      uint8  // default 0 (PCMU)
	n       int    // payload bytes; default 160
	payload []byte // instead of the seq pattern
	raw     []byte // sent as is
	marker  bool
	after   time.Duration // clock advance before sending; default 20 ms
}

func audio(seq uint16, ts uint32) step { return step{seq: seq, ts: ts} }

func event(seq uint16, ts uint32, ev uint8, end bool, dur uint16) step {
	return step{seq: seq, ts: ts, pt: PayloadTypeTelephoneEvent, marker: dur <= 160 && !end, payload: []byte{ev, 10 | map[bool]byte{true: 0x80}[end], byte(dur >> 8), byte(dur)}}
}

// TestReceiverScenarios sends hand-made packets over real UDP sockets on
// loopback and checks the exact output (trace) and statistics. Trace items:
// aSEQ@POS is audio, gN@POS:REASON a gap of N samples, dD@POS+N[E] a DTMF
// event of N samples (E: its end packet was seen).
func TestReceiverScenarios(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		steps []step
		trace string
		stats map[string]uint64
	}{
		{
			name:  "in order",
			steps: []step{audio(100, 0), audio(101, 160), audio(102, 320)},
			trace: "a100@0 a101@160 a102@320",
			stats: map[string]uint64{"Received": 3, "Expected": 3, "Lost": 0, "Samples": 480, "GapSamples": 0},
		},
		{
			name:  "one packet lost",
			steps: []step{audio(100, 0), audio(101, 160), audio(103, 480), audio(104, 640)},
			trace: "a100@0 a101@160 g160@320:loss a103@480 a104@640",
			stats: map[string]uint64{"Received": 4, "Expected": 5, "Lost": 1, "Samples": 640, "GapSamples": 160},
		},
		{
			name:  "burst loss",
			steps: []step{audio(100, 0), audio(104, 640)},
			trace: "a100@0 g480@160:loss a104@640",
			stats: map[string]uint64{"Received": 2, "Expected": 5, "Lost": 3, "GapSamples": 480},
		},
		{
			name:  "reordered",
			steps: []step{audio(100, 0), audio(102, 320), audio(101, 160), audio(103, 480)},
			trace: "a100@0 a101@160 a102@320 a103@480",
			stats: map[string]uint64{"Received": 4, "Expected": 4, "Lost": 0, "OutOfOrder": 1, "Late": 0},
		},
		{
			name:  "duplicates",
			steps: []step{audio(100, 0), audio(101, 160), audio(101, 160), audio(102, 320), audio(100, 0)},
			trace: "a100@0 a101@160 a102@320",
			stats: map[string]uint64{"Received": 5, "Expected": 3, "Lost": 0, "Duplicates": 2, "OutOfOrder": 0},
		},
		{
			name:  "sequence wrap-around",
			steps: []step{audio(65534, 0), audio(65535, 160), audio(0, 320), audio(1, 480)},
			trace: "a65534@0 a65535@160 a0@320 a1@480",
			stats: map[string]uint64{"Received": 4, "Expected": 4, "Lost": 0, "OutOfOrder": 0},
		},
		{
			name:  "reordered across wrap-around",
			steps: []step{audio(65534, 0), audio(0, 320), audio(65535, 160), audio(1, 480)},
			trace: "a65534@0 a65535@160 a0@320 a1@480",
			stats: map[string]uint64{"Received": 4, "Expected": 4, "Lost": 0, "OutOfOrder": 1},
		},
		{
			name:  "loss across wrap-around",
			steps: []step{audio(65535, 0), audio(1, 320)},
			trace: "a65535@0 g160@160:loss a1@320",
			stats: map[string]uint64{"Received": 2, "Expected": 3, "Lost": 1},
		},
		{
			name:  "timestamp wrap-around",
			steps: []step{audio(100, 1<<32-160), audio(101, 0), audio(102, 160)},
			trace: "a100@0 a101@160 a102@320",
			stats: map[string]uint64{"GapSamples": 0},
		},
		{
			name:  "stranger's packets dropped",
			steps: []step{audio(100, 0), {from: 1, seq: 101, ts: 160, ssrc: ssrcA}, audio(101, 160), {from: 1, seq: 5, ts: 5}, audio(102, 320)},
			trace: "a100@0 a101@160 a102@320",
			stats: map[string]uint64{"Received": 3, "Strangers": 2, "Lost": 0, "Datagrams": 5},
		},
		{
			name: "the expected source latches, whoever sends first",
			steps: []step{
				{from: 1, seq: 500, ts: 0, ssrc: ssrcB}, // peer 1 is not the SDP's address
				{raw: []byte("not rtp")},                // peer 0, malformed: does not latch
				{from: 0, seq: 1, ts: 0, pt: 18, n: 20}, // peer 0, unknown payload type: does not latch
				{from: 1, seq: 501, ts: 160, ssrc: ssrcB},
				{from: 0, seq: 101, ts: 160},
				{from: 1, seq: 502, ts: 320, ssrc: ssrcB},
				{from: 0, seq: 102, ts: 320},
			},
			trace: "a101@0 a102@160",
			stats: map[string]uint64{"Received": 2, "Strangers": 3, "Malformed": 1, "Ignored": 1},
		},
		{
			name: "malformed packets dropped",
			steps: []step{
				audio(100, 0),
				{raw: []byte("hello")},
				{raw: []byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}},                    // 11 bytes
				{raw: []byte{0x40, 0, 0, 101, 0, 0, 0, 160, 0x11, 0x11, 0xaa, 0xaa}}, // version 1
				{raw: []byte{0xa0, 0, 0, 101, 0, 0, 0, 160, 0x11, 0x11, 0xaa, 0xaa}}, // padding bit, no padding
				{raw: []byte{0x8f, 0, 0, 101, 0, 0, 0, 160, 0x11, 0x11, 0xaa, 0xaa}}, // 15 CSRCs announced
				audio(101, 160),
			},
			trace: "a100@0 a101@160",
			stats: map[string]uint64{"Received": 2, "Malformed": 5, "Lost": 0},
		},
		{
			name:  "late packet beyond the reorder depth",
			depth: 2,
			steps: []step{audio(100, 0), audio(102, 320), audio(103, 480), audio(104, 640), audio(101, 160)},
			trace: "a100@0 g160@160:loss a102@320 a103@480 a104@640",
			stats: map[string]uint64{"Received": 5, "Expected": 5, "Lost": 0, "Late": 1, "OutOfOrder": 1},
		},
		{
			name:  "reordering disabled",
			depth: -1,
			steps: []step{audio(100, 0), audio(102, 320), audio(101, 160), audio(103, 480)},
			trace: "a100@0 g160@160:loss a102@320 a103@480",
			stats: map[string]uint64{"Received": 4, "Late": 1, "OutOfOrder": 1, "Lost": 0},
		},
		{
			name:  "silence suppression",
			steps: []step{audio(100, 0), audio(101, 160), {seq: 102, ts: 960, marker: true}},
			trace: "a100@0 a101@160 g640@320:silence a102@960",
			stats: map[string]uint64{"Lost": 0, "GapSamples": 640},
		},
		{
			name:  "unknown payload type keeps its sequence number",
			steps: []step{audio(100, 0), {seq: 101, ts: 160, pt: 18, n: 20}, audio(102, 320)},
			trace: "a100@0 g160@160:silence a102@320",
			stats: map[string]uint64{"Received": 3, "Ignored": 1, "Lost": 0},
		},
		{
			name:  "PCMA",
			steps: []step{{seq: 100, ts: 0, pt: 8}, {seq: 101, ts: 160, pt: 8}},
			trace: "a100@0 a101@160",
		},
		{
			name: "packet sizes change",
			steps: []step{
				audio(100, 0),
				{seq: 101, ts: 160, n: 240}, // 30 ms
				{seq: 102, ts: 400, n: 80},  // 10 ms
				audio(104, 640),             // 103 (80 samples) lost
			},
			trace: "a100@0 a101@160 a102@400 g160@480:loss a104@640",
		},
		{
			name: "SSRC change sized by arrival time",
			steps: []step{
				audio(100, 0), audio(101, 160), audio(102, 320),
				{seq: 7000, ts: 90000, ssrc: ssrcB, after: time.Second},
				{seq: 7001, ts: 90160, ssrc: ssrcB},
				audio(103, 480), // late packet of the old source
			},
			trace: "a100@0 a101@160 a102@320 g7840@480:source-change a7000@8320 a7001@8480",
			stats: map[string]uint64{"Received": 5, "Expected": 5, "Lost": 0, "SourceChanges": 1, "Ignored": 1, "SSRC": ssrcB},
		},
		{
			name: "SSRC change without pause",
			steps: []step{
				audio(100, 0), audio(101, 160),
				{seq: 9, ts: 12345, ssrc: ssrcB},
			},
			trace: "a100@0 a101@160 a9@320",
			stats: map[string]uint64{"SourceChanges": 1, "GapSamples": 0},
		},
		{
			name: "SSRC change flushes held packets",
			steps: []step{
				audio(100, 0), audio(102, 320), // 101 missing, 102 held
				{seq: 9, ts: 12345, ssrc: ssrcB},
			},
			trace: "a100@0 g160@160:loss a102@320 a9@480",
			stats: map[string]uint64{"Lost": 1, "Expected": 4, "SourceChanges": 1},
		},
		{
			name: "sender resets its clock",
			steps: []step{
				audio(100, 0), audio(101, 160),
				audio(102, 160+3600*8000), // an hour ahead, 20 ms later
				audio(103, 320+3600*8000),
			},
			trace: "a100@0 a101@160 a102@320 a103@480",
			stats: map[string]uint64{"GapSamples": 0, "Lost": 0},
		},
		{
			name: "sender's clock stopped during a pause",
			steps: []step{
				audio(100, 0), audio(101, 160),
				{seq: 102, ts: 320, after: 3 * time.Second},
			},
			trace: "a100@0 a101@160 g23840@320:resync a102@24160",
		},
		{
			name: "sender's clock ran during a pause",
			steps: []step{
				audio(100, 0), audio(101, 160),
				{seq: 102, ts: 24160, after: 3 * time.Second},
			},
			trace: "a100@0 a101@160 g23840@320:silence a102@24160",
		},
		{
			name: "sequence restart with the same SSRC",
			steps: []step{
				audio(100, 0), audio(101, 160),
				{seq: 30000, ts: 50000, after: 500 * time.Millisecond},
				{seq: 30001, ts: 50160},
				{seq: 30002, ts: 50320},
			},
			trace: "a100@0 a101@160 g4000@320:source-change a30001@4320 a30002@4480",
			stats: map[string]uint64{"Ignored": 1, "SourceChanges": 1, "Received": 4, "Expected": 4, "Lost": 0},
		},
		{
			name: "DTMF with redundant end packets",
			steps: []step{
				audio(100, 0),
				event(101, 160, 5, false, 160), event(102, 160, 5, false, 320),
				event(103, 160, 5, true, 480), event(104, 160, 5, true, 480), event(105, 160, 5, true, 480),
				audio(106, 640),
			},
			trace: "a100@0 d5@160+480E g480@160:silence a106@640",
			stats: map[string]uint64{"DTMFEvents": 1, "Lost": 0, "Received": 7},
		},
		{
			name: "DTMF end packet reordered and duplicated",
			steps: []step{
				event(101, 0, 11, false, 160),
				event(103, 0, 11, true, 480), event(102, 0, 11, false, 320), event(103, 0, 11, true, 480),
				event(104, 0, 11, true, 480),
			},
			trace: "d#@0+480E",
			stats: map[string]uint64{"DTMFEvents": 1, "Duplicates": 1, "OutOfOrder": 1},
		},
		{
			name: "DTMF end packets lost",
			steps: []step{
				audio(100, 0),
				event(101, 160, 1, false, 160), event(102, 160, 1, false, 320),
				audio(106, 480),
			},
			trace: "a100@0 g320@160:loss a106@480 d1@160+320",
			stats: map[string]uint64{"DTMFEvents": 1, "Lost": 3},
		},
		{
			name: "two key presses",
			steps: []step{
				event(1, 0, 1, false, 160), event(2, 0, 1, true, 320), event(3, 0, 1, true, 320), event(4, 0, 1, true, 320),
				event(5, 800, 2, false, 160), event(6, 800, 2, true, 320), event(7, 800, 2, true, 320),
			},
			trace: "d1@0+320E d2@0+320E",
			stats: map[string]uint64{"DTMFEvents": 2},
		},
		{
			name: "RTCP on the RTP port",
			steps: []step{
				audio(100, 0),
				{raw: []byte{0x81, 201, 0, 7, 0x11, 0x11, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
				audio(101, 160),
			},
			trace: "a100@0 a101@160",
			stats: map[string]uint64{"Ignored": 1, "Malformed": 0, "Received": 2},
		},
	}
	receivePaths(t, func(t *testing.T, poller *Poller) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				clk := newFakeClock()
				peers := newPeers(t)
				// As a server configures it: peer 0 is the SDP's address.
				rx, rec := startReceiver(t, ReceiverConfig{ReorderDepth: tc.depth, Now: clk.Now, Poller: poller, Handler: &recorder{strict: true},
					Remote: peers[0].addr(), LatchPackets: DefaultLatchPackets})
				sendSteps(t, rx, clk, tc.steps, peers...)
				if err := rx.Close(); err != nil {
					t.Fatal(err)
				}
				rec.check(t)
				if got := rec.Trace(); got != tc.trace {
					t.Errorf("trace\n got: %s\nwant: %s", got, tc.trace)
				}
				checkStats(t, rx.Stats(), tc.stats)
			})
		}
	})
}

// newPeers returns the two peers of a scenario, not yet aimed at a
// Receiver (sendSteps aims them).
func newPeers(t *testing.T) []*peer {
	return []*peer{newPeer(t, netip.AddrPort{}), newPeer(t, netip.AddrPort{})}
}

// sendSteps sends steps to rx from two peers (new ones unless given), one
// datagram at a time, advancing clk by each step's after (default 20 ms)
// before it, so that each packet has a known arrival time.
func sendSteps(t *testing.T, rx *Receiver, clk *fakeClock, steps []step, peers ...*peer) {
	t.Helper()
	if len(peers) == 0 {
		peers = newPeers(t)
	}
	for _, p := range peers {
		p.to = rx.LocalAddr()
	}
	base := rx.Stats().Datagrams
	for i, s := range steps {
		after := s.after
		if after == 0 {
			after = 20 * time.Millisecond
		}
		clk.Advance(after)
		b := s.raw
		if b == nil {
			ssrc, n, payload := s.ssrc, s.n, s.payload
			if ssrc == 0 {
				ssrc = ssrcA
			}
			if n == 0 {
				n = 160
			}
			if payload == nil {
				payload = pattern(s.seq, n)
			}
			b = rtpPacket(t, ssrc, s.seq, s.ts, s.pt, s.marker, payload)
		}
		peers[s.from].raw(b)
		// One packet at a time, so that each has its arrival time.
		want := base + uint64(i+1)
		waitStats(t, rx, "the datagram processed", func(st Stats) bool { return st.Datagrams == want })
	}
}

func checkStats(t testing.TB, st Stats, want map[string]uint64) {
	t.Helper()
	v := reflect.ValueOf(st)
	for name, w := range want {
		f := v.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("no Stats field %s", name)
		}
		var got uint64
		switch f.Kind() {
		case reflect.Uint64, reflect.Uint32:
			got = f.Uint()
		case reflect.Int64:
			got = uint64(f.Int())
		default:
			t.Fatalf("Stats.%s is %v", name, f.Kind())
		}
		if got != w {
			t.Errorf("Stats.%s = %d, want %d", name, got, w)
		}
	}
	if t.Failed() {
		t.Logf("stats: %+v", st)
	}
}

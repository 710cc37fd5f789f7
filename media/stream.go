package media

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

const (
	// maxDropout is how far ahead a sequence number may jump and still be
	// the same sequence (RFC 3550 A.1 MAX_DROPOUT).
	maxDropout = 3000
	// seenWindow is how far back duplicates are recognized; a sequence
	// number further back is treated like a jump (RFC 3550 A.1 uses 100).
	seenWindow = 512
	// seqBase offsets extended sequence numbers so that packets older than
	// the first one stay positive.
	seqBase = 1 << 20
	// dtmfTimeout ends an event whose end packets were all lost.
	dtmfTimeout = time.Second
)

// pkt is one RTP packet as the reorder buffer keeps it.
type pkt struct {
	ext     int64 // extended sequence number
	seq     uint16
	pt      uint8
	marker  bool
	ts      uint32
	arrival time.Time
	payload []byte
}

type slot struct {
	filled bool
	p      pkt
	buf    []byte // storage of p.payload, grown when needed, then reused
}

// streamConfig is the resolved ReceiverConfig.
type streamConfig struct {
	handler Handler
	depth   int
	wait    time.Duration
	skew    time.Duration
	latch   latchConfig
	log     *slog.Logger
	srtp    *SRTPContext // decrypts before parsing; nil: plain RTP
}

// stream is the socket-free receive path of one RTP stream: latching,
// sequence tracking (RFC 3550 A.1), reorder and duplicate suppression,
// jitter (A.8), G.711 decoding, DTMF and the sample timeline. It is owned
// by one goroutine; its methods are not safe for concurrent use.
type stream struct {
	streamConfig
	codecs [128]Encoding // by payload type; 0 is unknown
	rp     rtp.Packet    // reused for parsing

	// source (see latch.go)
	latch   latchConfig
	latched bool
	source  netip.AddrPort
	cand    netip.AddrPort // the address whose packets probe holds
	candN   int            // packets held in probe
	candOK  int            // of which usable (a payload type in the table)
	probe   []probePkt
	hasSSRC bool
	ssrc    uint32
	oldSSRC uint32
	hasOld  bool

	// sequence state of the current source
	seqInit  bool
	maxExt   int64
	baseExt  int64
	badSeq   int32 // -1: none
	seen     [seenWindow / 64]uint64
	recvCur  uint64 // packets of the current source (duplicates included)
	dupsCur  uint64
	foldExp  uint64 // Expected of earlier sources
	foldLost uint64 // Lost of earlier sources

	// reorder buffer
	slots   []slot
	mask    int64
	next    int64 // extended sequence number to release next
	held    int
	missing int // sequence numbers skipped since the last audio release

	// jitter (RFC 3550 A.8), of audio packets
	jInit   bool
	jRef    time.Time
	jLastAT int64 // arrival of the previous audio packet in timestamp units since jRef
	jLastTS uint32
	jitter  int64 // 16 × jitter, in timestamp units

	tl    timeline
	dt    dtmfTrack
	pcm   []int16
	pf    Prefetcher // the handler, if it is one
	st    Stats
	lastE time.Time // arrival of the latest packet of an unfinished event
}

func newStream(cfg streamConfig, codecs []Codec) *stream {
	size := 2
	for size < 2*(cfg.depth+1) {
		size <<= 1
	}
	s := &stream{streamConfig: cfg, slots: make([]slot, size), mask: int64(size - 1), badSeq: -1, latch: cfg.latch}
	s.tl.skew = int64(cfg.skew / (time.Second / SampleRate))
	s.setCodecs(codecs)
	s.pf, _ = cfg.handler.(Prefetcher)
	return s
}

func (s *stream) setCodecs(codecs []Codec) {
	s.codecs = [128]Encoding{}
	for _, c := range codecs {
		if c.PayloadType < 128 && (c.ClockRate == 0 || c.ClockRate == SampleRate) {
			s.codecs[c.PayloadType] = c.Encoding
		}
	}
}

// process handles one datagram read at time at from address from.
func (s *stream) process(b []byte, from netip.AddrPort, at time.Time) {
	s.st.Datagrams++
	// The address first, before any parsing: a stranger's flood costs a
	// comparison per packet.
	if s.latched {
		if from != s.source {
			s.stranger(from)
			return
		}
	} else if !s.allowed(from) {
		s.stranger(from)
		return
	}
	// RTCP multiplexed on the RTP port (RFC 5761 §4): packet types 192-223.
	if len(b) >= 2 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223 {
		s.st.Ignored++
		return
	}
	if s.srtp != nil {
		if b = s.unprotect(b, from); b == nil {
			return // dropped and counted: forged, replayed, malformed
		}
	}
	// The cheap checks first: pion's errors allocate, and junk may flood.
	if len(b) < 12 || b[0]>>6 != 2 || s.rp.Unmarshal(b) != nil {
		s.st.Malformed++
		if s.st.Malformed == 1 {
			s.log.Debug("media: malformed RTP packet dropped", "from", from, "len", len(b))
		}
		return
	}
	if !s.latched {
		s.probation(b, from, at, s.codecs[s.rp.PayloadType&0x7f] != 0)
		return
	}
	s.receive(at)
}

// receive handles the packet parsed in s.rp, of the latched source.
func (s *stream) receive(at time.Time) {
	h := &s.rp.Header
	enc := s.codecs[h.PayloadType&0x7f]
	if !s.hasSSRC {
		s.hasSSRC, s.ssrc, s.st.SSRC = true, h.SSRC, h.SSRC
	} else if h.SSRC != s.ssrc {
		if enc == 0 || (s.hasOld && h.SSRC == s.oldSSRC) {
			s.st.Ignored++ // unusable, or a late packet of the previous source
			return
		}
		s.changeSource(h.SSRC, "new SSRC")
	}

	seq := h.SequenceNumber
	if !s.seqInit {
		s.initSeq(seq)
	}
	var ext int64
	switch udelta := seq - uint16(s.maxExt); {
	case udelta < maxDropout:
		ext = s.maxExt + int64(udelta)
	case udelta >= 1<<16-seenWindow:
		ext = s.maxExt - int64(1<<16-int(udelta))
	default:
		// A jump (RFC 3550 A.1): the first packet of a restarted sequence,
		// or a stray one. It is dropped; if the next packet follows it, the
		// sequence restarts there.
		if int32(seq) != s.badSeq {
			s.badSeq = int32(seq + 1)
			s.st.Ignored++
			return
		}
		s.changeSource(h.SSRC, "sequence restart")
		s.initSeq(seq)
		ext = s.maxExt
	}
	s.badSeq = -1
	s.st.Received++
	s.st.LastArrival = at
	s.recvCur++

	if ext <= s.maxExt {
		if s.isSeen(ext) {
			s.st.Duplicates++
			s.dupsCur++
			return
		}
		s.markSeen(ext)
		if ext < s.maxExt {
			s.st.OutOfOrder++
		}
		if ext < s.next {
			s.st.Late++
			return
		}
	} else {
		s.advanceSeen(ext)
	}
	if enc == 0 {
		s.st.Ignored++
	} else if enc.IsAudio() {
		s.updateJitter(h.Timestamp, at)
	}
	if enc == EncodingTelephoneEvent {
		s.lastE = at
	}

	p := pkt{ext: ext, seq: seq, pt: h.PayloadType, marker: h.Marker, ts: h.Timestamp, arrival: at, payload: s.rp.Payload}
	if ext == s.next && s.held == 0 {
		// In order with nothing waiting: release from the read buffer.
		s.next++
		s.release(&p)
		return
	}
	s.insert(&p)
	s.drain()
}

func (s *stream) initSeq(seq uint16) {
	s.seqInit = true
	s.maxExt = seqBase + int64(seq)
	s.baseExt = s.maxExt
	s.next = s.maxExt
	s.seen = [seenWindow / 64]uint64{} // the first packet marks itself
	s.badSeq = -1
}

func (s *stream) isSeen(ext int64) bool {
	if ext <= s.maxExt-seenWindow {
		return false
	}
	i := ext & (seenWindow - 1)
	return s.seen[i>>6]&(1<<(i&63)) != 0
}

func (s *stream) markSeen(ext int64) {
	i := ext & (seenWindow - 1)
	s.seen[i>>6] |= 1 << (i & 63)
}

// advanceSeen moves the highest sequence number to ext, forgetting the
// entries that leave the window.
func (s *stream) advanceSeen(ext int64) {
	if ext-s.maxExt >= seenWindow {
		s.seen = [seenWindow / 64]uint64{}
	} else {
		for e := s.maxExt + 1; e <= ext; e++ {
			i := e & (seenWindow - 1)
			s.seen[i>>6] &^= 1 << (i & 63)
		}
	}
	s.maxExt = ext
	s.markSeen(ext)
}

// updateJitter applies RFC 3550 A.8 to an audio packet.
func (s *stream) updateJitter(ts uint32, at time.Time) {
	if !s.jInit {
		s.jInit, s.jRef, s.jLastAT, s.jLastTS = true, at, 0, ts
		return
	}
	arr := int64(at.Sub(s.jRef)) * SampleRate / int64(time.Second)
	d := (arr - s.jLastAT) - int64(int32(ts-s.jLastTS))
	if d < 0 {
		d = -d
	}
	s.jitter += d - ((s.jitter + 8) >> 4)
	s.jLastAT, s.jLastTS = arr, ts
}

// insert stores p in the reorder buffer, releasing or skipping what must go
// to make room for it.
func (s *stream) insert(p *pkt) {
	size := int64(len(s.slots))
	for p.ext-s.next >= size {
		if s.held == 0 {
			skip := p.ext - s.next - (size - 1)
			s.missing += int(skip)
			s.next += skip
			break
		}
		s.step()
	}
	sl := &s.slots[p.ext&s.mask]
	sl.buf = append(sl.buf[:0], p.payload...)
	sl.p = *p
	sl.p.payload = sl.buf
	sl.filled = true
	s.held++
}

// step releases the packet due next, or skips its sequence number.
func (s *stream) step() {
	sl := &s.slots[s.next&s.mask]
	s.next++
	if sl.filled && sl.p.ext == s.next-1 {
		sl.filled = false
		s.held--
		s.release(&sl.p)
		return
	}
	s.missing++
}

// drain releases packets in order, skipping a missing one when more than
// depth packets wait behind it.
func (s *stream) drain() {
	for s.held > 0 {
		sl := &s.slots[s.next&s.mask]
		if !(sl.filled && sl.p.ext == s.next) && s.held <= s.depth {
			return
		}
		s.step()
	}
}

// flushHeld releases everything held, skipping the holes.
func (s *stream) flushHeld() {
	for s.held > 0 {
		s.step()
	}
}

// flush delivers everything pending: the packets of a candidate source
// that no other source contested (a stream shorter than LatchPackets),
// held packets and an unfinished event.
func (s *stream) flush() {
	if !s.latched && s.candN > 0 {
		s.latchCandidate()
	}
	s.flushHeld()
	if s.dt.active && !s.dt.reported {
		s.reportDTMF(false)
	}
}

// due returns when expire has work to do (zero when nothing waits).
func (s *stream) due() time.Time {
	var t time.Time
	if s.held > 0 {
		t = s.oldestHeld().Add(s.wait)
	}
	if s.dt.active && !s.dt.reported {
		if e := s.lastE.Add(dtmfTimeout); t.IsZero() || e.Before(t) {
			t = e
		}
	}
	return t
}

func (s *stream) oldestHeld() time.Time {
	var oldest time.Time
	for i := range s.slots {
		if sl := &s.slots[i]; sl.filled && (oldest.IsZero() || sl.p.arrival.Before(oldest)) {
			oldest = sl.p.arrival
		}
	}
	return oldest
}

// expire gives up on missing packets that held ones waited for longer than
// the reorder wait, and ends an event that has gone quiet.
func (s *stream) expire(now time.Time) {
	for s.held > 0 && now.Sub(s.oldestHeld()) >= s.wait {
		// skip the hole before the first held packet, then release the run
		for {
			sl := &s.slots[s.next&s.mask]
			if sl.filled && sl.p.ext == s.next {
				break
			}
			s.step()
		}
		for s.held > 0 {
			sl := &s.slots[s.next&s.mask]
			if !(sl.filled && sl.p.ext == s.next) {
				break
			}
			s.step()
		}
	}
	if s.dt.active && !s.dt.reported && now.Sub(s.lastE) >= dtmfTimeout {
		s.reportDTMF(false)
	}
}

// changeSource ends the current source: what it left is delivered, its
// counters are folded, and the timeline will size the gap to the next
// packet by arrival time.
func (s *stream) changeSource(ssrc uint32, why string) {
	s.flush()
	s.foldExp += uint64(s.maxExt - s.baseExt + 1)
	s.foldLost += s.lostCur()
	if ssrc != s.ssrc {
		s.oldSSRC, s.hasOld = s.ssrc, true
	}
	s.log.Info("media: RTP source changed", "why", why, "old_ssrc", s.ssrc, "new_ssrc", ssrc)
	s.ssrc = ssrc
	s.st.SSRC = ssrc
	s.st.SourceChanges++
	s.seqInit = false
	s.recvCur, s.dupsCur = 0, 0
	s.missing = 0
	s.jInit = false
	s.jitter = 0 // RFC 3550 keeps the jitter per source
	s.tl.newSource = s.tl.started
}

func (s *stream) lostCur() uint64 {
	if !s.seqInit {
		return 0
	}
	exp := s.maxExt - s.baseExt + 1
	got := int64(s.recvCur - s.dupsCur)
	if got >= exp {
		return 0
	}
	return uint64(exp - got)
}

// release hands one in-order packet to the decoder or the event tracker.
func (s *stream) release(p *pkt) {
	switch enc := s.codecs[p.pt&0x7f]; {
	case enc.IsAudio():
		s.deliverAudio(p, enc)
	case enc == EncodingTelephoneEvent:
		s.deliverEvent(p)
	}
}

func (s *stream) deliverAudio(p *pkt, enc Encoding) {
	n := len(p.payload)
	if n == 0 {
		return
	}
	first := !s.tl.started
	gap, pos, cut, ok := s.tl.place(p.ts, n, p.arrival, s.missing)
	s.missing = 0
	if cut > 0 {
		s.st.AheadSamples += cut
	}
	if first {
		s.st.FirstArrival = p.arrival
	}
	if gap.Samples > 0 {
		s.st.GapSamples += gap.Samples
		s.handler.HandleGap(gap)
	}
	if !ok {
		s.st.Ahead++
		s.st.AheadSamples += int64(n)
		if s.st.Ahead == 1 {
			s.log.Info("media: RTP timestamps run ahead of the arrival clock; audio dropped",
				"ssrc", s.ssrc, "seq", p.seq, "position", pos, "max_skew", SamplesToDuration(s.tl.skew))
		}
		return
	}
	if cap(s.pcm) < n {
		s.pcm = make([]int16, n)
	}
	pcm := s.pcm[:n]
	decode(enc, pcm, p.payload)
	s.st.Samples += int64(n)
	s.handler.HandleAudio(Audio{
		Position:       pos,
		PCM:            pcm,
		Payload:        p.payload,
		Encoding:       enc,
		PayloadType:    p.pt,
		SSRC:           s.ssrc,
		SequenceNumber: p.seq,
		Timestamp:      p.ts,
		Marker:         p.marker,
		Arrival:        p.arrival,
	})
}

// stats returns the current statistics.
func (s *stream) stats() Stats {
	st := s.st
	st.Expected = s.foldExp
	st.Lost = s.foldLost + s.lostCur()
	if s.seqInit {
		st.Expected += uint64(s.maxExt - s.baseExt + 1)
	}
	st.JitterUnits = uint32(s.jitter >> 4)
	st.Jitter = SamplesToDuration(int64(st.JitterUnits))
	return st
}

// timeline maps RTP timestamps and arrival times onto the continuous sample
// timeline of a stream.
type timeline struct {
	started     bool
	next        int64  // position of the next sample
	expectTS    uint32 // timestamp that would continue the previous packet
	lastArrival time.Time
	lastSamples int
	newSource   bool  // size the next gap by arrival: the source changed
	skew        int64 // MaxTimestampSkew in samples
	// first is the arrival of position 0 and latest the latest arrival
	// placed: together the arrival clock that positions may not run
	// ahead of by more than skew.
	first, latest time.Time
}

// place returns the gap before a packet of n samples with timestamp ts
// arriving at at, and the packet's position; ok is false when the packet
// must be dropped because it would start more than the skew ahead of the
// arrival clock, and cut is how many samples of the gap were cut for the
// same reason.
//
// The rule: the gap is the timestamp difference from the end of the previous
// packet (exact, whatever was lost), unless the source changed, the
// timestamp went backwards, or it disagrees with the arrival-time estimate by
// more than the skew; then the arrival-time estimate is used, rounded to a
// whole number of packets. Each of those is checked against the previous
// packet only, so a sender could otherwise gain up to the skew with every
// packet: a cap keeps every position within the skew of the arrival clock,
// (latest arrival − first arrival), whatever the timestamps say. A dropped
// packet still moves the timestamp reference, so that the stream's next
// packet follows on where the dropped one would have been.
func (t *timeline) place(ts uint32, n int, at time.Time, missing int) (g Gap, pos, cut int64, ok bool) {
	if !t.started {
		t.started = true
		t.next = 0
		t.first, t.latest = at, at
	} else {
		d := int64(int32(ts - t.expectTS))
		est := durationSamples(at.Sub(t.lastArrival)) - int64(t.lastSamples)
		switch {
		case t.newSource:
			g = Gap{Samples: roundFrames(est, t.lastSamples), Reason: GapSourceChange}
		case d < 0 || abs64(d-est) > t.skew:
			g = Gap{Samples: roundFrames(est, t.lastSamples), Reason: GapResync}
		case d > 0 && missing > 0:
			g = Gap{Samples: d, Reason: GapLoss, Missing: missing}
		case d > 0:
			g = Gap{Samples: d, Reason: GapSilence}
		}
		t.newSource = false
		if at.After(t.latest) {
			t.latest = at
		}
	}
	limit := t.limit()
	if g.Samples > 0 {
		if end := t.next + g.Samples; end > limit {
			cut = min(g.Samples, end-limit)
			g.Samples -= cut
		}
	}
	if g.Samples > 0 {
		g.Position = t.next
		g.Arrival = at
		t.next += g.Samples
	} else {
		g = Gap{}
	}
	t.commit(ts, n, at)
	pos = t.next
	if pos > limit {
		return g, pos, cut, false
	}
	t.next += int64(n)
	return g, pos, cut, true
}

// limit is the furthest position a packet may start at: the arrival clock
// plus the skew.
func (t *timeline) limit() int64 {
	return durationSamples(t.latest.Sub(t.first)) + t.skew
}

// durationSamples converts d to samples at SampleRate, without overflow
// for the longest durations.
func durationSamples(d time.Duration) int64 {
	return int64(d/time.Second)*SampleRate + int64(d%time.Second)*SampleRate/int64(time.Second)
}

func (t *timeline) commit(ts uint32, n int, at time.Time) {
	t.expectTS = ts + uint32(n)
	t.lastArrival = at
	t.lastSamples = n
}

// positionOf maps a timestamp of the current source onto the timeline.
func (t *timeline) positionOf(ts uint32) int64 {
	if !t.started {
		return 0
	}
	if t.newSource {
		return t.next
	}
	return max(0, t.next+int64(int32(ts-t.expectTS)))
}

func roundFrames(est int64, frame int) int64 {
	if est <= 0 {
		return 0
	}
	if frame <= 0 {
		return est
	}
	f := int64(frame)
	return (est + f/2) / f * f
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// dtmfTrack follows the telephone event in progress (RFC 4733 §2.5).
type dtmfTrack struct {
	active   bool
	reported bool
	segTS    uint32 // timestamp of the current segment
	before   int    // duration of the earlier segments of a long event
	dur      uint16 // duration of the current segment so far
	event    uint8
	volume   uint8
	arrival  time.Time
	pos      int64
	ssrc     uint32
}

func (s *stream) deliverEvent(p *pkt) {
	var ev TelephoneEvent
	if len(p.payload) < telephoneEventSize {
		s.st.Malformed++
		return
	}
	_ = ev.Unmarshal(p.payload) // length checked: cannot fail
	d := &s.dt
	if d.active && p.ts == d.segTS && ev.Event == d.event {
		if d.reported {
			return // a redundant end packet, or an update after the end
		}
		d.dur = max(d.dur, ev.Duration)
		if ev.End {
			s.reportDTMF(true)
		}
		return
	}
	if d.active && !d.reported {
		if ev.Event == d.event && !p.marker && p.ts == d.segTS+uint32(d.dur) {
			// the next segment of a long event (RFC 4733 §2.5.1.3)
			d.before += int(d.dur)
			d.segTS, d.dur = p.ts, ev.Duration
			if ev.End {
				s.reportDTMF(true)
			}
			return
		}
		s.reportDTMF(false)
	}
	*d = dtmfTrack{
		active:  true,
		segTS:   p.ts,
		dur:     ev.Duration,
		event:   ev.Event,
		volume:  ev.Volume,
		arrival: p.arrival,
		pos:     s.tl.positionOf(p.ts),
		ssrc:    s.ssrc,
	}
	if ev.End {
		s.reportDTMF(true)
	}
}

func (s *stream) reportDTMF(ended bool) {
	d := &s.dt
	d.reported = true
	s.st.DTMFEvents++
	s.handler.HandleDTMF(DTMF{
		Event:    d.event,
		Digit:    EventDigit(d.event),
		Position: d.pos,
		Samples:  d.before + int(d.dur),
		Volume:   d.volume,
		Arrival:  d.arrival,
		Ended:    ended,
		SSRC:     d.ssrc,
	})
}

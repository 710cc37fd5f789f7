package media

import (
	"net/netip"
	"time"
)

// SampleRate is the sample rate, in Hz, of every stream this package decodes
// and sends: G.711 and telephone-event both use an 8000 Hz RTP clock, so one
// timestamp unit is one sample.
const SampleRate = 8000

// SamplesToDuration converts a sample count at SampleRate to a duration.
func SamplesToDuration(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / SampleRate
}

// Audio is one RTP packet of decoded audio, delivered to Handler.HandleAudio
// in sequence order.
//
// Every stream has a continuous sample timeline starting at 0 with the first
// sample delivered: each Audio and Gap starts exactly where the previous one
// ended, so Position+len(PCM) of one delivery is the Position of the next.
// PCM and Payload are valid only during the HandleAudio call; copy what you
// keep. (A Poller worker decodes the packets of all its streams into one
// buffer: after HandleAudio returns, PCM holds another stream's audio.)
type Audio struct {
	// Position is the timeline position of PCM[0], in samples.
	Position int64
	// PCM holds the decoded 16-bit samples at SampleRate.
	PCM []int16
	// Payload holds the packet's G.711 bytes as received.
	Payload []byte
	// Encoding is EncodingPCMU or EncodingPCMA.
	Encoding Encoding
	// PayloadType, SSRC, SequenceNumber, Timestamp and Marker are the RTP
	// header fields of the packet (RFC 3550 §5.1).
	PayloadType    uint8
	SSRC           uint32
	SequenceNumber uint16
	Timestamp      uint32
	Marker         bool
	// Arrival is when the packet was read from the socket. The Arrival of
	// the delivery at Position 0 is the wall-clock time of the stream's
	// first sample: a recorder places a late-starting stream with it, and
	// can measure a sender's clock drift by comparing Position with Arrival.
	Arrival time.Time
}

// GapReason says why a Gap was delivered.
type GapReason uint8

// The reasons for a gap.
const (
	// GapLoss: sequence numbers are missing before the next packet (lost,
	// or arrived too late for the reorder buffer). Sized by RTP timestamps.
	GapLoss GapReason = iota + 1
	// GapSilence: no sequence number is missing but the RTP timestamp
	// advanced (silence suppression, a DTMF event that replaced audio, a
	// pause during which the sender's clock ran). Sized by RTP timestamps.
	GapSilence
	// GapSourceChange: a new SSRC (sender restart, re-INVITE) took over, or
	// the sequence numbers restarted. Sized by arrival time.
	GapSourceChange
	// GapResync: the RTP timestamp disagreed with the arrival time by more
	// than ReceiverConfig.MaxTimestampSkew (the sender reset its clock, or
	// stopped it during a pause). Sized by arrival time.
	GapResync
)

// String returns "loss", "silence", "source-change" or "resync".
func (r GapReason) String() string {
	switch r {
	case GapLoss:
		return "loss"
	case GapSilence:
		return "silence"
	case GapSourceChange:
		return "source-change"
	case GapResync:
		return "resync"
	}
	return "GapReason(?)"
}

// Gap is a stretch of the timeline without audio, delivered to
// Handler.HandleGap just before the Audio that follows it. A recorder writes
// Samples samples of silence.
//
// Gaps sized by arrival time (GapSourceChange, GapResync) are the wall-clock
// time between the end of the previous packet and the arrival of the next,
// rounded to a whole number of packets of the previous packet's size; they
// are never negative, and a source that takes over at once gives no gap.
type Gap struct {
	// Position is the timeline position where the gap starts.
	Position int64
	// Samples is the length of the gap, at least 1.
	Samples int64
	// Reason says why the gap is there and how it was sized.
	Reason GapReason
	// Missing counts the sequence numbers skipped before the next packet
	// (lost or late packets of any payload type); 0 unless Reason is
	// GapLoss.
	Missing int
	// Arrival is the arrival time of the packet that ended the gap (the
	// Audio delivered next, unless it was dropped for running ahead of the
	// arrival clock: see Stats.Ahead).
	Arrival time.Time
}

// Duration returns the length of the gap as a duration.
func (g Gap) Duration() time.Duration { return SamplesToDuration(g.Samples) }

// DTMF is one RFC 4733 telephone event (a key press), delivered once to
// Handler.HandleDTMF when it ends, however many redundant end packets
// follow.
type DTMF struct {
	// Event is the event code (see TelephoneEvent).
	Event uint8
	// Digit is the DTMF character of Event, or 0 for a non-digit event.
	Digit rune
	// Position is the timeline position of the event's start (its RTP
	// timestamp mapped onto the audio timeline; 0 before any audio).
	Position int64
	// Samples is the event's duration in samples (timestamp units), over
	// all its segments.
	Samples int
	// Volume is the power level in -dBm0.
	Volume uint8
	// Arrival is when the first packet of the event was read.
	Arrival time.Time
	// Ended reports that an end packet (E bit) was received. It is false when
	// the end was inferred because its packets were lost: another event
	// started, the source changed, the stream stopped, or no packet of the
	// event came for one second.
	Ended bool
	// SSRC is the source of the event.
	SSRC uint32
}

// Duration returns the event's duration.
func (d DTMF) Duration() time.Duration { return SamplesToDuration(int64(d.Samples)) }

// Handler receives what a Receiver decodes. The three methods are called
// from the goroutine running Receiver.Run, or from a worker of the
// Receiver's Poller, one at a time, in timeline order; they must return
// quickly (they hold up reading the socket, and with a Poller the sockets
// of other Receivers too) and must not call Receiver.Close. Slices passed
// in are valid only during the call.
type Handler interface {
	HandleAudio(a Audio)
	HandleGap(g Gap)
	HandleDTMF(d DTMF)
}

// Prefetcher is implemented by a Handler that can read ahead the memory its
// HandleAudio is about to use. A Poller that reads a batch of datagrams for
// many streams calls each one's Prefetch before it handles any of them: the
// state of thousands of streams is rarely in the processor's cache, and
// reading it for the whole batch at once (loads independent of one
// another, many misses in flight) costs much less than waiting for each
// stream's misses in turn (BENCHMARKS.md, "Sixth session").
//
// Prefetch is called like the Handler's other methods: never concurrently
// with them for the same Receiver (under the Poller worker's lock, on the
// worker's goroutine or on the one closing the Receiver), and possibly with
// no audio following. It must only read — no locks, no writes, nothing
// that blocks — and only what is safe to read there: what this Receiver's
// Handler calls write, atomics, fields fixed before the Receiver started.
// Plain reads of fields that other goroutines write are data races. It
// returns anything derived from what it read (a sum of the words read),
// which the caller keeps so that the loads are not optimized away.
type Prefetcher interface {
	Prefetch() uintptr
}

// HandlerFuncs adapts functions to a Handler; a nil function ignores its
// events.
type HandlerFuncs struct {
	Audio func(Audio)
	Gap   func(Gap)
	DTMF  func(DTMF)
}

// HandleAudio calls f.Audio if set.
func (f HandlerFuncs) HandleAudio(a Audio) {
	if f.Audio != nil {
		f.Audio(a)
	}
}

// HandleGap calls f.Gap if set.
func (f HandlerFuncs) HandleGap(g Gap) {
	if f.Gap != nil {
		f.Gap(g)
	}
}

// HandleDTMF calls f.DTMF if set.
func (f HandlerFuncs) HandleDTMF(d DTMF) {
	if f.DTMF != nil {
		f.DTMF(d)
	}
}

// Stats are the statistics of one received stream, in the terms of RFC 3550
// §6.4.1 and Appendix A.1/A.8, summed over every source the stream had.
type Stats struct {
	// Source is the latched remote address; invalid until a source latched
	// (ReceiverConfig.LatchPackets valid packets in a row from an address
	// the Latching mode allows).
	Source netip.AddrPort
	// SSRC is the current synchronization source.
	SSRC uint32

	// Datagrams counts every datagram read from the socket, whatever
	// became of it.
	Datagrams uint64
	// Received counts the RTP packets of the latched source's sequences,
	// duplicates and late packets included (RFC 3550 "received"); packets
	// of an unknown payload type from the source count too, since they
	// take part in the sequence.
	Received uint64
	// Expected is the number of sequence numbers from the first to the
	// highest seen, per source (RFC 3550 A.3 "expected").
	Expected uint64
	// Lost counts sequence numbers that never arrived: Expected minus the
	// distinct packets received. Unlike RFC 3550's cumulative count it is
	// never negative: duplicates do not offset losses.
	Lost uint64
	// Duplicates counts packets whose sequence number was already received.
	Duplicates uint64
	// OutOfOrder counts packets that arrived after a packet with a higher
	// sequence number (reordered), late ones included.
	OutOfOrder uint64
	// Late counts reordered packets that arrived after the reorder buffer
	// had given up on them: they were dropped and are part of a GapLoss.
	Late uint64

	// Strangers counts packets dropped for where they came from: from
	// another address than the latched source; before a source latched,
	// from an address the Latching mode does not allow (not the SDP's
	// Remote in LatchStrict mode); and the held packets of an address that
	// lost the latch to another before it sent LatchPackets in a row. A
	// high count with Received near zero is a stream whose sender is not
	// where its SDP says (a NAT: see LatchRelaxed), or someone else sending
	// to the port.
	Strangers uint64
	// Malformed counts datagrams that are not valid RTP version 2 (or whose
	// telephone-event payload is too short), dropped.
	Malformed uint64
	// Ignored counts valid packets that carry nothing to deliver: a payload
	// type not in the codec table, RTCP multiplexed on the RTP port, a late
	// packet of a previous SSRC, a sequence jump held as a possible restart.
	Ignored uint64
	// SourceChanges counts SSRC changes and sequence restarts after the
	// first source.
	SourceChanges uint64

	// AuthFailures, Replayed and KeyExpired count SRTP packets dropped
	// (ReceiverConfig.SRTP): their authentication tag did not verify
	// (forged, corrupted, another key); their index was already received
	// or is older than the replay window — with SRTP a duplicate is caught
	// here, before Duplicates; the master key's lifetime was used up.
	// None of them is delivered, counted in Received or latches a source.
	AuthFailures, Replayed, KeyExpired uint64

	// Jitter is the RFC 3550 A.8 interarrival jitter of audio packets, of
	// the current source (it starts again from zero when the SSRC changes).
	Jitter time.Duration
	// JitterUnits is Jitter in timestamp units, as an RTCP report carries it.
	JitterUnits uint32

	// Samples counts samples delivered as Audio; GapSamples samples
	// delivered as Gap. Their sum is the current length of the timeline.
	Samples, GapSamples int64
	// Ahead counts audio packets dropped because their timestamp would
	// have placed them more than ReceiverConfig.MaxTimestampSkew ahead of
	// their arrival time on the timeline (a sender whose timestamps run
	// faster than time, or that sends faster than real time); AheadSamples
	// counts the samples dropped: those packets' audio, and the part of
	// gaps cut for the same reason. The timeline of a stream never runs
	// further ahead of the arrival clock than MaxTimestampSkew.
	Ahead        uint64
	AheadSamples int64
	// DTMFEvents counts DTMF deliveries.
	DTMFEvents uint64

	// FirstArrival is the arrival time of the timeline's first sample (zero
	// before any audio); LastArrival that of the latest packet accepted.
	FirstArrival, LastArrival time.Time
}

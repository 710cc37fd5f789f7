package media

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// PacketWriter sends a datagram to an address. *net.UDPConn and *Endpoint
// implement it.
type PacketWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// SenderConfig configures a Sender. The zero value sends PCMU (payload type
// 0) in 20 ms packets from a random SSRC, sequence number and timestamp.
type SenderConfig struct {
	// Codec is the audio codec: PCMU or PCMA, with the payload type
	// negotiated (the answer's Media.AudioCodec()). Default PCMU/0.
	Codec Codec
	// EventPayloadType is the payload type of RFC 4733 telephone-event for
	// WriteDTMF (the answer's Media.EventCodec()); default 101.
	EventPayloadType uint8
	// PTime is the packetization time (the answer's Media.PTime); default
	// 20 ms. It must be a whole number of milliseconds.
	PTime time.Duration
	// SSRC, Sequence and Timestamp are the synchronization source and the
	// first sequence number and timestamp; 0 means random, as RFC 3550 §5.1
	// recommends.
	SSRC      uint32
	Sequence  uint16
	Timestamp uint32
	// SRTP, when set, makes the stream SRTP (RFC 3711): every packet, DTMF
	// included, is encrypted and authenticated with this context, made from
	// this side's a=crypto line. The context belongs to this Sender from
	// now on. Default nil: plain RTP.
	SRTP *SRTPContext
}

// Sender packetizes audio into RTP (RFC 3550, RFC 3551): PCM or G.711 bytes
// in, one packet per ptime out, with consecutive sequence numbers,
// timestamps advancing by the samples sent, the marker bit on the first
// packet of a talkspurt, and its own SSRC. It also sends RFC 4733 DTMF.
// Writes do not allocate. It is safe for concurrent use.
type Sender struct {
	mu      sync.Mutex
	w       PacketWriter
	remote  netip.AddrPort
	codec   Codec
	eventPT uint8
	ptime   time.Duration
	spp     int // samples per packet
	hdr     rtp.Header
	marker  bool   // the next audio packet starts a talkspurt
	frame   []byte // encoded samples waiting for a full packet
	pkt     []byte // the packet, with room for the SRTP tag
	srtp    *SRTPContext
	packets uint64
	octets  uint64
}

// SenderStats counts what a Sender sent (RFC 3550 §6.4.1 sender info).
type SenderStats struct {
	SSRC    uint32
	Packets uint64
	// Octets counts payload octets.
	Octets uint64
	// Sequence and Timestamp are those of the next packet.
	Sequence  uint16
	Timestamp uint32
}

// NewSender returns a Sender writing packets with w to remote.
func NewSender(w PacketWriter, remote netip.AddrPort, cfg SenderConfig) (*Sender, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: nil PacketWriter", ErrInvalidConfig)
	}
	codec := cfg.Codec
	if codec.Encoding == 0 {
		codec = Codec{PayloadType: PayloadTypePCMU, Encoding: EncodingPCMU, ClockRate: SampleRate}
	}
	if !codec.Encoding.IsAudio() || codec.PayloadType > 127 || (codec.ClockRate != 0 && codec.ClockRate != SampleRate) {
		return nil, fmt.Errorf("%w: a Sender sends PCMU or PCMA at 8000 Hz, not %v", ErrInvalidConfig, codec)
	}
	ptime := cfg.PTime
	if ptime == 0 {
		ptime = 20 * time.Millisecond
	}
	if ptime < time.Millisecond || ptime > time.Second || ptime%time.Millisecond != 0 {
		return nil, fmt.Errorf("%w: ptime %v is not a whole number of milliseconds between 1 ms and 1 s", ErrInvalidConfig, ptime)
	}
	eventPT := cfg.EventPayloadType
	if eventPT == 0 {
		eventPT = PayloadTypeTelephoneEvent
	}
	if eventPT > 127 {
		return nil, fmt.Errorf("%w: event payload type %d", ErrInvalidConfig, eventPT)
	}
	overhead := 0
	if cfg.SRTP != nil {
		if err := cfg.SRTP.claim(); err != nil {
			return nil, err
		}
		overhead = srtpMaxOverhead // whatever key a Rekey brings
	}
	s := &Sender{
		srtp:    cfg.SRTP,
		w:       w,
		remote:  remote,
		codec:   codec,
		eventPT: eventPT,
		ptime:   ptime,
		spp:     int(ptime / (time.Second / SampleRate)),
		marker:  true,
	}
	s.hdr = rtp.Header{
		Version:        2,
		PayloadType:    codec.PayloadType,
		SSRC:           orRandom32(cfg.SSRC),
		SequenceNumber: uint16(orRandom32(uint32(cfg.Sequence))),
		Timestamp:      orRandom32(cfg.Timestamp),
	}
	s.frame = make([]byte, 0, s.spp)
	s.pkt = make([]byte, 12+s.spp, 12+s.spp+overhead)
	return s, nil
}

func orRandom32(v uint32) uint32 {
	for v == 0 {
		v = rand.Uint32()
	}
	return v
}

// SSRC returns the synchronization source of the stream.
func (s *Sender) SSRC() uint32 { return s.hdr.SSRC }

// SamplesPerPacket returns the number of samples in a full packet.
func (s *Sender) SamplesPerPacket() int { return s.spp }

// SetRemote changes where packets go (a re-INVITE answered another port).
func (s *Sender) SetRemote(remote netip.AddrPort) {
	s.mu.Lock()
	s.remote = remote
	s.mu.Unlock()
}

// Stats returns what was sent so far.
func (s *Sender) Stats() SenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SenderStats{SSRC: s.hdr.SSRC, Packets: s.packets, Octets: s.octets, Sequence: s.hdr.SequenceNumber, Timestamp: s.hdr.Timestamp}
}

// WritePCM encodes 16-bit samples at 8000 Hz with the Sender's codec and
// sends every full packet; a partial packet waits for the next write (or
// Flush).
func (s *Sender) WritePCM(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(pcm) > 0 {
		n := min(len(pcm), s.spp-len(s.frame))
		l := len(s.frame)
		s.frame = s.frame[:l+n]
		encode(s.codec.Encoding, s.frame[l:], pcm[:n])
		pcm = pcm[n:]
		if len(s.frame) == s.spp {
			if err := s.sendFrame(); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteEncoded sends G.711 bytes already in the Sender's encoding (one byte
// per sample), packetized like WritePCM: the fork of a call leg's audio.
func (s *Sender) WriteEncoded(g711 []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(g711) > 0 {
		n := min(len(g711), s.spp-len(s.frame))
		s.frame = append(s.frame, g711[:n]...)
		g711 = g711[n:]
		if len(s.frame) == s.spp {
			if err := s.sendFrame(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush sends the samples waiting for a full packet as a shorter packet.
func (s *Sender) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.frame) == 0 {
		return nil
	}
	return s.sendFrame()
}

// Skip advances the timestamp by samples without sending anything, for
// suppressed silence or a pause: the receiver sees a gap of exactly that
// length. Samples waiting for a full packet are dropped; the next packet
// carries the marker bit (start of a talkspurt).
func (s *Sender) Skip(samples int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame = s.frame[:0]
	s.hdr.Timestamp += uint32(samples)
	s.marker = true
}

func (s *Sender) sendFrame() error {
	s.hdr.PayloadType = s.codec.PayloadType
	s.hdr.Marker = s.marker
	err := s.send(s.frame)
	s.marker = false
	s.hdr.Timestamp += uint32(len(s.frame))
	s.frame = s.frame[:0]
	return err
}

// send writes one packet with the current header and advances the sequence
// number, whatever the outcome: a lost datagram is a lost packet.
func (s *Sender) send(payload []byte) error {
	n, err := s.hdr.MarshalTo(s.pkt)
	if err == nil {
		n += copy(s.pkt[n:], payload)
		out := s.pkt[:n]
		if s.srtp != nil {
			out, err = s.srtp.Encrypt(s.pkt[:0], out) // in place: pkt has room for the tag
		}
		if err == nil {
			_, err = s.w.WriteToUDPAddrPort(out, s.remote)
		}
	}
	s.hdr.SequenceNumber++
	if err != nil {
		return fmt.Errorf("media: sending RTP to %v: %w", s.remote, err)
	}
	s.packets++
	s.octets += uint64(len(payload))
	return nil
}

// WriteDTMF sends one key press as RFC 4733 telephone-event packets: a
// first packet with the marker bit, one update per ptime with the duration
// so far, and the end packet three times (§2.5.1.4), all with the
// timestamp of the event's start and consecutive sequence numbers. Samples
// waiting for a full packet are sent first; afterwards the audio timestamp
// continues after the event. The packets are sent at once, not paced.
func (s *Sender) WriteDTMF(digit rune, d time.Duration) error {
	ev, ok := DigitEvent(digit)
	if !ok {
		return fmt.Errorf("%w: %q is not a DTMF digit", ErrInvalidConfig, digit)
	}
	total := int(d / (time.Second / SampleRate))
	if total <= 0 || total > 0xffff {
		return fmt.Errorf("%w: DTMF duration %v out of range", ErrInvalidConfig, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.frame) > 0 {
		if err := s.sendFrame(); err != nil {
			return err
		}
	}
	s.hdr.PayloadType = s.eventPT
	var payload [telephoneEventSize]byte
	te := TelephoneEvent{Event: ev, Volume: 10}
	for dur, first := s.spp, true; ; dur += s.spp {
		te.Duration = uint16(min(dur, total))
		te.End = dur >= total
		s.hdr.Marker = first
		first = false
		_, _ = te.MarshalTo(payload[:])
		reps := 1
		if te.End {
			reps = 3
		}
		for range reps {
			if err := s.send(payload[:]); err != nil {
				return err
			}
		}
		if te.End {
			break
		}
	}
	s.hdr.Marker = false
	s.hdr.Timestamp += uint32(total)
	return nil
}

// Play sends pcm in real time: one packet per ptime, paced by a timer from
// the moment of the call, then flushes. It returns early with ctx's error.
// It is meant for tests and simple tools that play a tone or a file; a
// gateway forwarding live audio calls WritePCM or WriteEncoded as audio
// comes.
func (s *Sender) Play(ctx context.Context, pcm []int16) error {
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; len(pcm) > 0; i++ {
		if d := time.Until(start.Add(time.Duration(i) * s.ptime)); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(pcm), s.spp)
		if err := s.WritePCM(pcm[:n]); err != nil {
			return err
		}
		pcm = pcm[n:]
	}
	return s.Flush()
}

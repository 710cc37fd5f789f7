package siprec

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/prefetch"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// Session is one recording session (RS) the Server accepted: a SIPREC
// dialog, its metadata and its streams. Its getters are safe to call from any
// goroutine at any time, during and after the session.
type Session struct {
	srv *Server

	// Fixed at creation.
	id          string
	callID      string
	start       time.Time
	invite      *sipgosip.Request
	identity    sip.Identity
	hasIdentity bool
	transport   string
	requireSRTP bool // no line in clear, at the INVITE and every re-offer
	source      netip.AddrPort
	key         dialogID // in Server.sessions
	localTag    string
	remoteTag   string
	mediaAddr   netip.Addr
	state       *metadata.State
	release     func() // the Admission's Release, wrapped in a sync.Once
	done        chan struct{}

	// mu serializes what changes the session: setup, in-dialog requests,
	// the end; and so the sink's event calls.
	mu           sync.Mutex
	sink         SessionSink
	established  bool // the 2xx to the INVITE was sent
	ended        bool
	remoteCSeq   uint32
	localCSeq    uint32
	remoteTarget sipgosip.Uri
	routeSet     []string
	origin       media.Origin
	answerBody   []byte
	contact      sipgosip.ContactHeader
	runs         sync.WaitGroup // the streams' receive goroutines

	// info guards what getters read.
	info        sync.RWMutex
	streams     []*Stream // by m-line index; nil for rejected lines
	paused      bool
	recordingID string
	pending     *pending2xx // the 2xx waiting for its ACK
	lastActive  time.Time   // last offer/answer, for the media timeout
}

// ID returns the session ID the Server gave the session: a random UUID
// (version 4), unique per session, which a gateway can use as the
// recording's name.
func (s *Session) ID() string { return s.id }

// CallID returns the Call-ID of the SIPREC dialog.
func (s *Session) CallID() string { return s.callID }

// Start returns when the INVITE was received.
func (s *Session) Start() time.Time { return s.start }

// Request returns the initial INVITE. Read it, do not modify it.
func (s *Session) Request() *sipgosip.Request { return s.invite }

// Transport returns the SIP transport of the dialog ("UDP", "TCP"…).
func (s *Session) Transport() string { return s.transport }

// Source returns the address the INVITE came from (invalid when unknown).
func (s *Session) Source() netip.AddrPort { return s.source }

// Identity returns who sent the INVITE, when the handler was wrapped by a
// sip.Guard: the identity the session was admitted with, which every
// request of its dialog must speak for (see Server.DialogIdentity).
func (s *Session) Identity() (sip.Identity, bool) { return s.identity, s.hasIdentity }

// Metadata returns a copy of the session's current metadata: the initial
// document with every later update applied (metadata.State).
func (s *Session) Metadata() *metadata.Recording { return s.state.Recording() }

// Participants returns every participant of the metadata with the labels
// of the streams it sends and receives.
func (s *Session) Participants() []metadata.ParticipantStreams {
	return s.state.Recording().ParticipantStreams()
}

// RecordingID returns the recording ID the client forwarded, or "". It is
// read from the metadata (voicegw's recordingID extension, see
// metadata.Recording.RecordingID) and, when the metadata has none, from the
// INVITE's X-Recording-ID header, else its X-Srs-Recording-ID header. A
// metadata update that changes the extension changes it.
func (s *Session) RecordingID() string {
	s.info.RLock()
	defer s.info.RUnlock()
	return s.recordingID
}

// Paused reports whether the session is paused: every stream inactive.
func (s *Session) Paused() bool {
	s.info.RLock()
	defer s.info.RUnlock()
	return s.paused
}

// Ended reports whether the session is over.
func (s *Session) Ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Streams returns the session's current streams in m-line order (rejected
// and removed lines left out).
func (s *Session) Streams() []*Stream {
	s.info.RLock()
	defer s.info.RUnlock()
	out := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		if st != nil {
			out = append(out, st)
		}
	}
	return out
}

// Stream returns the current stream labelled label.
func (s *Session) Stream(label string) (*Stream, bool) {
	for _, st := range s.Streams() {
		if st.label == label {
			return st, true
		}
	}
	return nil, false
}

// Stream is one received stream of a session: an accepted m-line of the
// offer, identified by its a=label (RFC 4574, RFC 7866 §7.1.1).
type Stream struct {
	session *Session
	index   int
	label   string
	ep      *media.Endpoint
	rx      *media.Receiver
	handler media.Handler    // the sink's
	pf      media.Prefetcher // handler, if it is one (setHandler)

	paused   atomic.Bool
	resumeAt atomic.Int64 // UnixNano of the last resume; audio that arrived before is gapped

	srtp     *media.SRTPContext // the Receiver's, nil in clear
	protocol string             // media.ProtoRTP or media.ProtoSRTP

	mu           sync.Mutex
	remote       netip.AddrPort
	codecs       []media.Codec
	direction    media.Direction
	answerCrypto media.Crypto // our a=crypto line of the last answer (SRTP)
}

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.session }

// Label returns the stream's a=label ("" when the m-line had none).
func (st *Stream) Label() string { return st.label }

// Index returns the stream's m-line index in the offer (from 0).
func (st *Stream) Index() int { return st.index }

// LocalAddr returns where the stream's RTP is received (its answered port).
func (st *Stream) LocalAddr() netip.AddrPort { return st.ep.LocalAddr() }

// Remote returns the RTP address the offer gave for the stream.
func (st *Stream) Remote() netip.AddrPort {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.remote
}

// Codecs returns the stream's negotiated codecs (the answer's).
func (st *Stream) Codecs() []media.Codec {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.codecs)
}

// Direction returns the answered direction: recvonly while recorded,
// inactive while paused.
func (st *Stream) Direction() media.Direction {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.direction
}

// Paused reports whether the stream is paused (answered inactive).
func (st *Stream) Paused() bool { return st.paused.Load() }

// SRTP returns the crypto-suite the stream's SRTP was keyed with (the
// latest, after a re-key), or "" when the stream is RTP in clear. Its
// Stats count the packets dropped for failed authentication
// (AuthFailures) and replays (Replayed).
func (st *Stream) SRTP() media.CryptoSuite {
	if st.srtp == nil {
		return ""
	}
	return st.srtp.Suite()
}

// Secure reports whether the session's SIP came over an encrypted
// transport (TLS, WSS).
func (s *Session) Secure() bool { return secureTransport(s.invite) }

// Stats returns the stream's RTP statistics (RFC 3550), final once the
// stream was removed or the session ended.
func (st *Stream) Stats() media.Stats { return st.rx.Stats() }

// Senders returns the participants the metadata says send on this stream.
func (st *Stream) Senders() []metadata.Participant {
	if st.label == "" {
		return nil
	}
	return st.session.state.Recording().SendersOf(st.label)
}

// setHandler gives the stream the sink's handler, before its Receiver
// starts.
func (st *Stream) setHandler(h media.Handler) {
	st.handler = h
	st.pf, _ = h.(media.Prefetcher)
}

// gate is the media.Handler a stream's Receiver delivers to: it passes
// everything to the sink's handler, except what arrives during a pause.
type gate struct{ st *Stream }

// HandleAudio passes a to the sink's handler, or a gap of the same length
// while the stream is paused or for audio that arrived during a pause: what
// is said during a pause never reaches a recording.
func (g gate) HandleAudio(a media.Audio) {
	st := g.st
	if st.handler == nil {
		return
	}
	if st.paused.Load() || a.Arrival.UnixNano() < st.resumeAt.Load() {
		st.handler.HandleGap(media.Gap{Position: a.Position, Samples: int64(len(a.PCM)), Reason: media.GapSilence})
		return
	}
	st.handler.HandleAudio(a)
}

// Prefetch implements media.Prefetcher: the stream's gate state, then the
// sink's handler's, if it prefetches (set with the handler before the
// stream's Receiver starts, not changed after).
func (g gate) Prefetch() uintptr {
	st := g.st
	prefetch.HintObject(st)
	if st.pf != nil {
		return st.pf.Prefetch()
	}
	return 0
}

// HandleGap passes gap to the sink's handler.
func (g gate) HandleGap(gap media.Gap) {
	if g.st.handler != nil {
		g.st.handler.HandleGap(gap)
	}
}

// HandleDTMF passes d to the sink's handler, except during a pause (a
// card number keyed in while recording is paused must not be kept).
func (g gate) HandleDTMF(d media.DTMF) {
	st := g.st
	if st.handler == nil || st.paused.Load() || d.Arrival.UnixNano() < st.resumeAt.Load() {
		return
	}
	st.handler.HandleDTMF(d)
}

// randomSessionID returns a random o= session ID below 2^62 (RFC 4566
// §5.2 only asks for a numeric string; this keeps it a positive int64).
func randomSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>2 | 1
}

// newTag returns a random dialog tag (RFC 3261 §19.3): 16 hex digits.
func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

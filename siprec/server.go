package siprec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
)

// DefaultMaxStreams is the most m-lines a SIPREC offer may have when
// Config.MaxStreams is 0. A two-party call has two; a conference or a
// recorded video call a few more.
const DefaultMaxStreams = 8

// Errors of the recording server. Each maps to one SIP response (see
// Server.Handle).
var (
	// ErrTooManyStreams: the offer has more m-lines than Config.MaxStreams.
	// 488.
	ErrTooManyStreams = errors.New("siprec: more m-lines than the server accepts")
	// ErrServerClosed: the Server is shutting down and takes no new session.
	// 503.
	ErrServerClosed = errors.New("siprec: server shutting down")
	// ErrAnswerTooLarge: over UDP, the 2xx answer is larger than sipgo sends
	// (UDPMTUSize of github.com/emiago/sipgo/sip less 200 bytes, 1300 by
	// default): too many streams for UDP. 513, so the client retries over
	// TCP.
	ErrAnswerTooLarge = errors.New("siprec: answer too large for UDP")
	// ErrSessionEnded: Session.Hangup of a session that is already over
	// (or was never answered).
	ErrSessionEnded = errors.New("siprec: session already ended")
	// ErrNoClient: Session.Hangup ended the session but had no SIP client
	// to send its BYE with (Config.Client is nil and Register was not
	// called).
	ErrNoClient = errors.New("siprec: no SIP client to send the BYE")
	// ErrInvalidCause: Session.Hangup was given a Reason cause that is not
	// a SIP final status code (200 to 699).
	ErrInvalidCause = errors.New("siprec: Reason cause is not a SIP final status code")
)

// The reasons Config.OnReject reports, one per kind of final non-2xx
// answer the Server gives an initial INVITE. A Policy's or sink
// constructor's *Rejection reports its Cause instead of RejectPolicy or
// RejectSink when it has one.
const (
	// RejectNotSIPREC: 421, an INVITE without the SIPREC markers and no
	// Config.Next to take it.
	RejectNotSIPREC = "not_siprec"
	// RejectBadExtension: 420, Require names an option other than siprec.
	RejectBadExtension = "bad_extension"
	// RejectBadRequest: 400, malformed body, SDP or metadata, no SDP, no
	// metadata, no Contact, or labels that disagree under
	// Config.StrictLabels.
	RejectBadRequest = "bad_request"
	// RejectMetadataTooLarge: 413, metadata over Config.MaxMetadataSize.
	RejectMetadataTooLarge = "metadata_too_large"
	// RejectUnsupportedBody: 415, a body type the Server does not take.
	RejectUnsupportedBody = "unsupported_body"
	// RejectTooManyStreams: 488, more m-lines than Config.MaxStreams.
	RejectTooManyStreams = "too_many_streams"
	// RejectNoUsableCodec: 488, no m-line with a codec of Config.Codecs.
	RejectNoUsableCodec = "no_usable_codec"
	// RejectClearSDES: 488, a=crypto keys over clear signalling
	// (ErrClearSDES).
	RejectClearSDES = "sdes_over_clear_transport"
	// RejectSRTPRequired: 488, SRTP is required and the offer records a
	// line in clear (ErrSRTPRequired).
	RejectSRTPRequired = "srtp_required"
	// RejectUnsupportedCrypto: 488, no RTP/SAVP line with a usable
	// a=crypto line (media.ErrUnsupportedCrypto).
	RejectUnsupportedCrypto = "unsupported_crypto"
	// RejectPolicy: the Policy refused (its Rejection's code, or 500 for
	// another error).
	RejectPolicy = "policy"
	// RejectSink: the sink constructor (Admission.Sink or Config.Sinks)
	// refused (its Rejection's code, or 500 for another error).
	RejectSink = "sink"
	// RejectNoRTPPort: 503, no free RTP port.
	RejectNoRTPPort = "no_rtp_port"
	// RejectShuttingDown: 503, the Server is shutting down.
	RejectShuttingDown = "shutting_down"
	// RejectAnswerTooLarge: 513, over UDP an answer larger than sipgo
	// sends (ErrAnswerTooLarge).
	RejectAnswerTooLarge = "answer_too_large"
	// RejectServerError: 500, the session could not be set up (no media
	// address, a receiver that could not start).
	RejectServerError = "server_error"
	// RejectCancelled: 487, the client sent CANCEL before the answer. The
	// 487 is sent by sipgo's transaction layer when the CANCEL arrives;
	// it is reported once the Server has given the INVITE up.
	RejectCancelled = "cancelled"
)

// Config configures a Server. The zero value works: it receives RTP on
// 0.0.0.0, ports 10000-20000, accepts every SIPREC INVITE, discards the
// audio (statistics only) and answers 421 to other INVITEs.
type Config struct {
	// Ports hands out the RTP ports of the streams. Default: a pool for
	// media.PortPoolConfig{} (every IPv4 address, ports 10000-20000).
	Ports *media.PortPool
	// MediaAddress is the address written on the answer's c= line. Default:
	// the address the RTP ports are bound to when it is a specific one,
	// else the host of the INVITE's Request-URI when it is an IP address;
	// an INVITE for which neither gives an address is answered 500. Set it
	// when the pool binds every address.
	MediaAddress netip.Addr
	// Codecs are the codecs accepted; default media.DefaultCodecs() (PCMU,
	// PCMA, telephone-event).
	Codecs []media.Codec
	// Latching says which senders each stream's RTP is accepted from:
	// media.LatchStrict (the default) only the address and port of the
	// offer's c= and m= lines; media.LatchRelaxed also any port of the
	// address the INVITE came from (its transport source: behind a SIP
	// proxy, the proxy's), for recording clients behind a NAT;
	// media.LatchAny any address (trusted networks only). A re-INVITE that
	// changes the offer's address moves the expected source with it. See
	// media.Latching.
	Latching media.Latching
	// Receiver is the template of every stream's media.ReceiverConfig
	// (reorder depth and wait, timestamp skew, latch count, clock, Poller).
	// Its Handler, Codecs, Logger, Remote, Signalling and Latching are set
	// by the Server. Set Receiver.Poller to
	// receive every stream on a media.Poller's few workers rather than a
	// goroutine per stream (much less CPU per packet on Linux); close the
	// Poller after Shutdown.
	Receiver media.ReceiverConfig
	// SRTP says how SRTP offers keyed by SDES (RTP/SAVP with a=crypto) are
	// taken: accepted over TLS by default, refused over clear signalling
	// (488), required when asked. See SRTPConfig.
	SRTP SRTPConfig
	// Policy admits or rejects each SIPREC INVITE. Default: admit all.
	Policy Policy
	// Sinks creates the sink of each session whose Admission has no Sink
	// of its own. Default: such sessions get a NopSink (audio is received,
	// counted and discarded).
	Sinks SinkFactory
	// Next handles what is not SIPREC: INVITEs that are neither marked as
	// SIPREC nor carry metadata, and requests of dialogs the Server does not
	// know (or that another tenant sent: see Server.Handle). Default nil:
	// such INVITEs get 421 Extension Required (Require: siprec), other
	// out-of-dialog requests 405, in-dialog requests 481.
	Next sip.Handler
	// MaxStreams is the most m-lines an offer may have (488 beyond).
	// Default DefaultMaxStreams.
	MaxStreams int
	// MaxMetadataSize is the largest metadata part accepted, in bytes (413
	// beyond). 0 means DefaultMaxMetadataSize; negative means no limit.
	// The 413 can only be sent for a request the transport delivered:
	// sipgo reads a UDP datagram into a buffer of TransportBufferReadSize
	// (32 KiB by default) and drops a larger one unanswered, and closes a
	// TCP connection whose message exceeds ParseMaxMessageLength (65,535
	// bytes) without an answer; both are variables of
	// github.com/emiago/sipgo/sip that only a program may change. A limit
	// near or above those sizes is never answered 413: the client sees a
	// timeout (UDP) or a closed connection (TCP) instead. The default
	// leaves room for a 413 on both transports.
	MaxMetadataSize int
	// StrictLabels rejects (400) an INVITE whose metadata names a stream
	// label that no m-line of the offer carries. Default false: the
	// mismatch is logged and the session accepted.
	StrictLabels bool
	// Contact is the URI of the Contact header of the Server's answers,
	// written with the +sip.srs feature tag (RFC 7866 §6.1.2). Default:
	// sip:srs@ the INVITE's Request-URI host and port, with the transport
	// parameter for transports other than UDP; for an INVITE that came over
	// TLS, sips:srs@… ;transport=tls, so that the client's in-dialog
	// requests come back over TLS (RFC 3261 §12.1.1). A fixed Contact is
	// used whatever the transport. The client sends its
	// in-dialog requests to this URI: behind a sip.Guard that picks the
	// tenant by Request-URI host and is not given the Server as its dialog
	// owner, a fixed Contact must name a host of the session's own tenant,
	// or those requests speak for another tenant and get 481 (see Handle).
	Contact sipgosip.Uri
	// ReadyTimeout bounds how long the answer to an INVITE or re-INVITE
	// adding streams waits for their sockets to be read (with a Poller:
	// registered with a worker and steered) before it is sent anyway, so a
	// worker held up by a slow Handler cannot hold INVITEs (and their
	// sessions' locks) for as long as it is held. Default 1 s.
	ReadyTimeout time.Duration
	// AckTimeout is how long a 2xx answer to an INVITE or re-INVITE waits
	// for its ACK (retransmitted over UDP meanwhile) before the session is
	// ended with EndNoAck and a BYE. Default 64×T1 (32 s), RFC 3261
	// §13.3.1.4.
	AckTimeout time.Duration
	// MediaTimeout ends a session (EndMediaTimeout, with a BYE) when no RTP
	// has arrived on any of its streams for this long while it is not
	// paused: a client that vanished without BYE does not hold its session
	// (and its licence) forever. Default 0: no media timeout.
	MediaTimeout time.Duration
	// Client sends the BYEs of the Server (Shutdown, Session.Hangup, ACK
	// and media timeouts). Default: Register sets one on the sipgo server's user
	// agent; without one, sessions end without BYE.
	Client *sipgo.Client
	// NoByeOnShutdown makes Shutdown end sessions without sending BYE.
	// Default false: each client gets a BYE, so it knows the recording
	// stopped.
	NoByeOnShutdown bool
	// OnReject, when set, is called for each final non-2xx answer the
	// Server gives an initial INVITE, with the handler's ctx (the
	// sip.Identity when guarded), the INVITE, the status code and a stable
	// reason (the Reject constants, or a *Rejection's Cause): what a
	// gateway counts in its metrics without wrapping the transaction.
	// Answers of Config.Next and of a sip.Guard in front are not reported.
	// It is called on the request's goroutine, after the answer was handed
	// to the transaction, and must return quickly. Default nil.
	OnReject func(ctx context.Context, req *sipgosip.Request, code int, reason string)
	// Logger receives session starts and ends, rejections and failures;
	// nil discards. The lines of rejected requests, whose number peers
	// decide, go through sip.NewLogFilter with its defaults (each kind at
	// most sip.DefaultLogBurst times per sip.DefaultLogInterval, the rest
	// counted in the next one's "suppressed").
	Logger *slog.Logger
	// Now is the clock of session times and pause/resume events. Default
	// time.Now.
	Now func() time.Time
}

// Server is a SIPREC recording server (SRS, RFC 7866): it accepts recording
// sessions from recording clients (SBCs, PBXs), answers each labelled
// stream with a recvonly m-line, receives the RTP through package media and
// hands each session to a SessionSink. It plugs into a sipgo server through
// Handle (a sip.Handler, so a sip.Guard can wrap it) or Register.
//
// A Server is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	peerLog *slog.Logger // log through sip.NewLogFilter: lines peers can multiply
	ports   *media.PortPool
	now     func() time.Time
	rxNow   func() time.Time // the receivers' clock, which stamps Arrival
	client  atomic.Pointer[sipgo.Client]
	ackWait time.Duration
	// readyWait is Config.ReadyTimeout with its default.
	readyWait time.Duration

	mu       sync.Mutex
	sessions map[dialogID]*Session
	closing  bool
	busy     int             // INVITE setups and goroutines of the Server under way
	idle     []chan struct{} // closed when busy drops to 0 (Shutdown waits on them)
}

var _ sip.DialogOwner = (*Server)(nil)

// NewServer returns a Server for cfg. It fails only when the default port
// pool cannot be made.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, sessions: make(map[dialogID]*Session)}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.peerLog = sip.FilterLogger(s.log, sip.LogFilterConfig{})
	s.ports = cfg.Ports
	if s.ports == nil {
		p, err := media.NewPortPool(media.PortPoolConfig{Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("siprec: default port pool: %w", err)
		}
		s.ports = p
	}
	s.now = cfg.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.Receiver.Latching = cfg.Latching
	s.rxNow = cfg.Receiver.Now
	if s.rxNow == nil {
		s.rxNow = time.Now
	}
	if s.cfg.MaxStreams <= 0 {
		s.cfg.MaxStreams = DefaultMaxStreams
	}
	if s.cfg.Codecs == nil {
		s.cfg.Codecs = media.DefaultCodecs()
	}
	s.readyWait = cfg.ReadyTimeout
	if s.readyWait <= 0 {
		s.readyWait = time.Second
	}
	s.ackWait = cfg.AckTimeout
	if s.ackWait <= 0 {
		s.ackWait = 64 * sipgosip.T1
	}
	if cfg.Client != nil {
		s.client.Store(cfg.Client)
	}
	return s, nil
}

// Methods returns the SIP methods the Server handles, those Register
// registers: INVITE, ACK, BYE, CANCEL, UPDATE and OPTIONS (RFC 7866 §7).
func (s *Server) Methods() []sipgosip.RequestMethod {
	return []sipgosip.RequestMethod{
		sipgosip.INVITE, sipgosip.ACK, sipgosip.BYE, sipgosip.CANCEL, sipgosip.UPDATE, sipgosip.OPTIONS,
	}
}

// Register makes srv send the Server's methods (see Methods) to Handle,
// wrapped by each wrap in order (the first is outermost; pass a
// sip.Guard's Wrap), with request contexts derived from ctx. It replaces
// srv's handlers of those methods: a gateway that also serves ordinary calls
// puts their handling in Config.Next. When Config.Client is nil it also
// gives the Server a client on srv's user agent, for the BYEs it sends.
//
//	srs.Register(ctx, sipgoServer, guard.Wrap)
func (s *Server) Register(ctx context.Context, srv *sipgo.Server, wrap ...func(sip.Handler) sip.Handler) error {
	if s.client.Load() == nil {
		c, err := sipgo.NewClient(srv.UserAgent, sipgo.WithClientLogger(s.log))
		if err != nil {
			return fmt.Errorf("siprec: client for BYE: %w", err)
		}
		s.client.CompareAndSwap(nil, c)
	}
	h := sip.Handler(s.Handle)
	for i := len(wrap) - 1; i >= 0; i-- {
		h = wrap[i](h)
	}
	sh := h.Sipgo(ctx)
	for _, m := range s.Methods() {
		srv.OnRequest(m, sh)
	}
	return nil
}

// Handle is the Server's sip.Handler: it handles the requests of recording
// sessions and passes the rest to Config.Next.
//
// Initial INVITE: it is SIPREC when it has Require: siprec, or a Contact
// with the +sip.src feature tag (RFC 7866 §6.1 asks for both; some clients
// send only one); it must then carry a metadata part. An INVITE with
// neither marker goes to Config.Next, even with a metadata part in its
// body. A SIPREC INVITE is answered:
//
//	420 Bad Extension   Require names an option other than siprec (Unsupported lists them)
//	400 Bad Request     no metadata, unparseable metadata, malformed body or SDP, no SDP
//	413                 metadata over Config.MaxMetadataSize
//	415                 a body type that is neither SDP, metadata nor multipart
//	488                 more m-lines than Config.MaxStreams, no m-line with a usable codec (or a=crypto),
//	                    a=crypto over clear signalling (ErrClearSDES), a line in clear when SRTP is required
//	the Policy's code   the Policy (or the sink constructor) rejected it (*Rejection; other errors 500)
//	503                 no free RTP port, or the Server is shutting down (with Retry-After)
//	513                 over UDP, an answer larger than sipgo sends over UDP (ErrAnswerTooLarge)
//	200                 application/sdp: one m-line per offered m-line, recvonly (inactive for inactive), labels kept
//
// 4xx answers carry a Warning header (399) that says what was wrong; each
// of these answers is reported to Config.OnReject.
//
// In-dialog: re-INVITE and UPDATE are new offers (a=inactive pauses,
// sendonly resumes, new ports and codecs are followed, new m-lines add
// streams, port 0 removes one) and may carry metadata (merged, reported to
// the sink); a session refresh gets the same answer; BYE ends the session;
// OPTIONS gets 200; requests of unknown dialogs go to Config.Next, or get 481.
//
// A request belongs to a session when its Call-ID, To tag and From tag are
// the session's dialog's and it speaks for the session's tenant: the
// sip.Identity in ctx has the Tenant of the one the INVITE was admitted with
// (Session.Identity), or neither has an Identity (no sip.Guard). Anything
// else is treated as a request of an unknown dialog (481, or Config.Next; an
// ACK is dropped), so that a tenant who learnt another's dialog identifiers
// can neither pause, update nor end its recording. A sip.Guard given the
// Server as its GuardConfig.Dialogs (see DialogIdentity) checks such
// requests against the owner's tenant before they get here; this check
// holds without one.
func (s *Server) Handle(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	inDialog := toTag(req) != ""
	switch req.Method {
	case sipgosip.INVITE:
		if inDialog {
			s.inDialog(ctx, req, tx)
			return
		}
		s.invite(ctx, req, tx)
	case sipgosip.UPDATE, sipgosip.BYE:
		s.inDialog(ctx, req, tx)
	case sipgosip.ACK:
		if sess := s.dialogOf(ctx, req); sess != nil {
			sess.ack(req)
			return
		}
		if s.cfg.Next != nil {
			s.cfg.Next(ctx, req, tx)
		}
	case sipgosip.OPTIONS:
		if inDialog {
			s.inDialog(ctx, req, tx)
			return
		}
		s.answerOptions(tx, req)
	default: // CANCEL of no pending INVITE (sipgo answers the others), other methods
		if s.cfg.Next != nil {
			s.cfg.Next(ctx, req, tx)
			return
		}
		if req.IsCancel() || inDialog {
			s.respondStateless(tx, req, 481)
			return
		}
		s.respondStateless(tx, req, 405, sipgosip.NewHeader("Allow", allowValue))
	}
}

// inDialog finds the session of an in-dialog request and handles the
// request, or hands it to Config.Next, or answers 481.
func (s *Server) inDialog(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	sess := s.dialogOf(ctx, req)
	if sess == nil {
		if s.cfg.Next != nil {
			s.cfg.Next(ctx, req, tx)
			return
		}
		s.respondStateless(tx, req, 481)
		return
	}
	switch req.Method {
	case sipgosip.BYE:
		s.bye(sess, req, tx)
	case sipgosip.OPTIONS:
		s.answerOptions(tx, req)
	default: // INVITE, UPDATE
		s.reoffer(ctx, sess, req, tx)
	}
}

// Shutdown stops the Server taking sessions (new INVITEs get 503 with
// Retry-After) and ends every active session with EndShutdown, telling its
// sink and, unless Config.NoByeOnShutdown, sending its client a BYE. INVITEs
// being set up at that moment are refused with 503 and their sinks, if
// made, told EndShutdown too. Shutdown returns when all of that is done and
// every goroutine of the Server has returned, or with ctx's error when ctx
// ends first (the sessions are ended all the same; only BYEs and setups may
// still be under way). Later requests of ended sessions get 481 (or go to
// Config.Next). Shutdown may be called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	active := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		active = append(active, sess)
	}
	s.mu.Unlock()

	var ended sync.WaitGroup
	for _, sess := range active {
		ended.Add(1)
		go func() {
			defer ended.Done()
			// RFC 3261 §15: no BYE before the ACK of the 2xx (or its timeout).
			sess.settle(ctx)
			if sess.end(EndShutdown) && !s.cfg.NoByeOnShutdown {
				_ = s.sendBye(ctx, sess, nil)
			}
		}()
	}
	ended.Wait()
	s.mu.Lock()
	if s.busy == 0 {
		s.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	s.idle = append(s.idle, idle)
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sessions returns the active sessions.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// dialogID identifies a session's dialog (RFC 3261 §12): the Call-ID, the
// local tag (the To tag of the client's requests) and the remote tag (their
// From tag).
type dialogID struct{ callID, local, remote string }

// lookup returns the session whose dialog req is sent in (Call-ID, To tag,
// From tag), whoever sent it, or nil.
func (s *Server) lookup(req *sipgosip.Request) *Session {
	local := toTag(req)
	if local == "" {
		return nil
	}
	id := dialogID{callID: callID(req), local: local, remote: fromTag(req)}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// dialogOf returns the session an in-dialog request may act on: the one
// whose dialog it is sent in, when ctx speaks for the session's tenant
// (see Handle); else nil, as for an unknown dialog.
func (s *Server) dialogOf(ctx context.Context, req *sipgosip.Request) *Session {
	sess := s.lookup(req)
	if sess == nil {
		return nil
	}
	id, ok := sip.IdentityFrom(ctx)
	if ok == sess.hasIdentity && (!ok || id.Tenant == sess.identity.Tenant) {
		return sess
	}
	s.peerLog.Warn("siprec: in-dialog request for another tenant's session refused", "method", string(req.Method),
		"call_id", sess.callID, "session", sess.id, "session_tenant", sess.identity.Tenant,
		"request_tenant", id.Tenant, "source", sip.SourceOf(req))
	return nil
}

// DialogIdentity implements sip.DialogOwner: for a request sent in the
// dialog of an active session (same Call-ID, To tag and From tag), it
// returns the sip.Identity the session's INVITE was admitted with (tenant,
// realm, digest user when there was one) with Source set to the INVITE's
// source, and true. It reports false for a dialog it does not know, and for
// a session admitted without a sip.Guard in front (no Identity to check
// against). Give the Server to the Guard (GuardConfig.Dialogs) so that an
// in-dialog request is checked against its dialog's tenant (allowlist, digest
// user) rather than the tenant its Request-URI names.
func (s *Server) DialogIdentity(req *sipgosip.Request) (sip.Identity, bool) {
	sess := s.lookup(req)
	if sess == nil || !sess.hasIdentity {
		return sip.Identity{}, false
	}
	id := sess.identity
	if sess.source.IsValid() {
		id.Source = sess.source
	}
	return id, true
}

// add registers a session's dialog, unless the Server is shutting down.
func (s *Server) add(sess *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	s.sessions[sess.key] = sess
	return nil
}

func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.key] == sess {
		delete(s.sessions, sess.key)
	}
}

// goroutine runs f in a goroutine that Shutdown waits for.
func (s *Server) goroutine(f func()) {
	s.track(1)
	go func() {
		defer s.track(-1)
		f()
	}()
}

// track counts work under way that Shutdown waits for.
func (s *Server) track(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy += delta
	if s.busy == 0 {
		for _, ch := range s.idle {
			close(ch)
		}
		s.idle = nil
	}
}

// enter counts an INVITE setup under way, unless the Server is shutting
// down; the caller calls track(-1) when done.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.busy++
	return true
}

// allowValue is the Allow header of the Server's answers.
const allowValue = "INVITE, ACK, BYE, CANCEL, UPDATE, OPTIONS"

// capabilityHeaders are the headers of an OPTIONS answer (RFC 3261 §11.2).
func (s *Server) capabilityHeaders() []sipgosip.Header {
	return []sipgosip.Header{
		sipgosip.NewHeader("Allow", allowValue),
		sipgosip.NewHeader("Accept", "application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed"),
		sipgosip.NewHeader("Supported", "siprec"),
	}
}

// answerOptions answers OPTIONS 200 with the capability headers, except
// over UDP when they would make the answer more than 1.5 times the request
// (as sipgo writes it back, compact header names expanded): an OPTIONS
// needs no credentials, so a crafted 154-byte one from a spoofed source
// would otherwise reflect 2.4 times its size (issue 14, item 7). A real
// keep-alive is large enough to get them.
func (s *Server) answerOptions(tx sipgosip.ServerTransaction, req *sipgosip.Request) {
	res := sipgosip.NewResponseFromRequest(req, 200, statusPhrase(200), nil)
	bare := res.Clone()
	for _, h := range s.capabilityHeaders() {
		res.AppendHeader(h)
	}
	if req.Transport() == "UDP" && 2*len(res.String()) > 3*len(req.String()) {
		res = bare
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("siprec: response not sent", "code", 200, "method", string(req.Method), "call_id", callID(req), "error", err)
	}
}

// respond sends a response built from req; reason "" is the standard phrase.
func (s *Server) respond(tx sipgosip.ServerTransaction, req *sipgosip.Request, code int, reason string, body []byte, headers ...sipgosip.Header) {
	if reason == "" {
		reason = statusPhrase(code)
	}
	res := sipgosip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("siprec: response not sent", "code", code, "method", string(req.Method), "call_id", callID(req), "error", err)
	}
}

// respondStateless sends a refusal that creates no state (481 for a
// dialog the Server does not know, 405) statelessly, once
// (sip.RespondStateless): such requests reach the Server without digest
// (the Guard passes in-dialog requests of unknown dialogs on), so over UDP
// a spoofed source must not get the answer retransmitted until an ACK
// that never comes (11 copies of a 481 to an INVITE). A retransmitted
// request is answered again.
func (s *Server) respondStateless(tx sipgosip.ServerTransaction, req *sipgosip.Request, code int, headers ...sipgosip.Header) {
	if req.IsAck() {
		return
	}
	res := sipgosip.NewResponseFromRequest(req, code, statusPhrase(code), nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := sip.RespondStateless(tx, res); err != nil {
		s.log.Debug("siprec: response not sent", "code", code, "method", string(req.Method), "call_id", callID(req), "error", err)
	}
}

// reject answers req with the response err maps to, and logs why.
func (s *Server) reject(tx sipgosip.ServerTransaction, req *sipgosip.Request, err error) {
	code, reason, headers := responseFor(err)
	s.peerLog.Info("siprec: request rejected", "method", string(req.Method), "call_id", callID(req),
		"code", code, "error", err)
	s.respond(tx, req, code, reason, nil, headers...)
}

// refuse answers an initial INVITE with the response err maps to, and
// reports it to Config.OnReject; by names what refused it when err is
// not the Server's own (RejectPolicy, RejectSink), "" otherwise.
func (s *Server) refuse(ctx context.Context, tx sipgosip.ServerTransaction, req *sipgosip.Request, err error, by string) {
	s.reject(tx, req, err)
	if s.cfg.OnReject != nil {
		code, _, _ := responseFor(err)
		s.cfg.OnReject(ctx, req, code, rejectReason(err, by))
	}
}

// rejected reports to Config.OnReject an answer sent without refuse.
func (s *Server) rejected(ctx context.Context, req *sipgosip.Request, code int, reason string) {
	if s.cfg.OnReject != nil {
		s.cfg.OnReject(ctx, req, code, reason)
	}
}

// rejectReason names the refusal err stands for (see the Reason
// constants); by is the reason of a Policy's or sink's error.
func rejectReason(err error, by string) string {
	var rej *Rejection
	if errors.As(err, &rej) && rej.Cause != "" {
		return rej.Cause
	}
	if by != "" {
		return by
	}
	switch {
	case errors.Is(err, ErrMetadataTooLarge):
		return RejectMetadataTooLarge
	case errors.Is(err, ErrUnsupportedBody):
		return RejectUnsupportedBody
	case errors.Is(err, ErrTooManyStreams):
		return RejectTooManyStreams
	case errors.Is(err, ErrClearSDES):
		return RejectClearSDES
	case errors.Is(err, media.ErrSRTPRequired):
		return RejectSRTPRequired
	case errors.Is(err, media.ErrUnsupportedCrypto):
		return RejectUnsupportedCrypto
	case errors.Is(err, media.ErrNoUsableCodec):
		return RejectNoUsableCodec
	case errors.Is(err, media.ErrNoFreePort):
		return RejectNoRTPPort
	case errors.Is(err, ErrAnswerTooLarge):
		return RejectAnswerTooLarge
	case errors.Is(err, ErrServerClosed):
		return RejectShuttingDown
	}
	if code, _, _ := responseFor(err); code == 400 {
		return RejectBadRequest
	}
	return RejectServerError
}

// responseFor maps an error to its SIP response: code, reason phrase
// ("" for the standard one) and extra headers.
func responseFor(err error) (int, string, []sipgosip.Header) {
	var rej *Rejection
	if errors.As(err, &rej) && rej.Code >= 300 && rej.Code <= 699 {
		var hs []sipgosip.Header
		if rej.RetryAfter > 0 {
			hs = append(hs, sipgosip.NewHeader("Retry-After", strconv.Itoa(int((rej.RetryAfter+time.Second-1)/time.Second))))
		}
		if rej.Warning != "" {
			hs = append(hs, warning(rej.Warning))
		}
		return rej.Code, rej.Reason, hs
	}
	code := 500
	switch {
	case errors.Is(err, ErrMetadataTooLarge):
		code = 413
	case errors.Is(err, ErrUnsupportedBody):
		code = 415
	case errors.Is(err, ErrMalformedBody), errors.Is(err, ErrNoMetadata), errors.Is(err, ErrNoSDP),
		errors.Is(err, ErrBadMetadata), errors.Is(err, media.ErrMalformedSDP), errors.Is(err, errLabels),
		errors.Is(err, errBadRequest):
		code = 400
	case errors.Is(err, ErrTooManyStreams), errors.Is(err, media.ErrNoUsableCodec),
		errors.Is(err, ErrClearSDES), errors.Is(err, media.ErrSRTPRequired), errors.Is(err, media.ErrUnsupportedCrypto):
		code = 488
	case errors.Is(err, media.ErrNoFreePort):
		return 503, "", []sipgosip.Header{sipgosip.NewHeader("Retry-After", "5")}
	case errors.Is(err, ErrAnswerTooLarge):
		return 513, "", []sipgosip.Header{warning(err.Error())}
	case errors.Is(err, ErrServerClosed):
		return 503, "", []sipgosip.Header{sipgosip.NewHeader("Retry-After", "30")}
	}
	if code >= 500 {
		return code, "", nil // the details stay in the log
	}
	return code, "", []sipgosip.Header{warning(err.Error())}
}

// warning returns a Warning header (RFC 3261 §20.43) with code 399
// (miscellaneous) carrying text.
func warning(text string) sipgosip.Header {
	if len(text) > 200 {
		text = text[:200]
	}
	text = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return '\''
		}
		return r
	}, text)
	return sipgosip.NewHeader("Warning", `399 voicegw "`+text+`"`)
}

// Header helpers.

func toTag(req *sipgosip.Request) string {
	if h := req.To(); h != nil {
		t, _ := h.Params.Get("tag")
		return t
	}
	return ""
}

func fromTag(req *sipgosip.Request) string {
	if h := req.From(); h != nil {
		t, _ := h.Params.Get("tag")
		return t
	}
	return ""
}

func callID(req *sipgosip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func cseq(req *sipgosip.Request) uint32 {
	if h := req.CSeq(); h != nil {
		return h.SeqNo
	}
	return 0
}

// optionTags returns the option tags of every header named name
// (comma-separated, in several headers or one), lower-cased.
func optionTags(req *sipgosip.Request, name string) []string {
	var out []string
	for _, h := range req.GetHeaders(name) {
		for _, t := range strings.Split(h.Value(), ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// unsupported returns the option tags of the request's Require header that
// the Server does not support (RFC 3261 §8.2.2.3): all but siprec.
func unsupported(req *sipgosip.Request) []string {
	var out []string
	for _, t := range optionTags(req, "Require") {
		if t != "siprec" {
			out = append(out, t)
		}
	}
	return out
}

// markedSIPREC reports whether an INVITE says it is SIPREC: Require: siprec
// or a Contact with the +sip.src feature tag (RFC 7866 §6.1.1).
func markedSIPREC(req *sipgosip.Request) bool {
	for _, t := range optionTags(req, "Require") {
		if t == "siprec" {
			return true
		}
	}
	if c := req.Contact(); c != nil {
		for _, kv := range c.Params {
			if strings.EqualFold(kv.K, "+sip.src") {
				return true
			}
		}
	}
	return false
}

// contentType returns the request's Content-Type value, "" when absent.
func contentType(req *sipgosip.Request) string {
	if h := req.ContentType(); h != nil {
		return h.Value()
	}
	return ""
}

// The headers a recording ID is read from when the metadata has none, in
// this order.
const (
	headerRecordingID    = "X-Recording-ID"
	headerSrsRecordingID = "X-Srs-Recording-ID"
)

// recordingIDOf returns the recording ID of an INVITE: from its metadata,
// else from its headers.
func recordingIDOf(req *sipgosip.Request, md string) string {
	if md != "" {
		return md
	}
	for _, name := range [...]string{headerRecordingID, headerSrsRecordingID} {
		if h := req.GetHeader(name); h != nil {
			if v := strings.TrimSpace(h.Value()); v != "" {
				return v
			}
		}
	}
	return ""
}

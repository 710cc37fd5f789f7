package siprec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// HeaderRecordingID is the header that carries the recording ID in the
// INVITE, besides the metadata's recordingID extension
// (metadata.RecordingIDElement). It is the name the call controller uses
// in its INFO requests (seed 003), so a recording server sees the same
// header the SBC got.
const HeaderRecordingID = "X-Srs-Recording-ID"

// Errors of the Manager, as users meet them (seed 003); match them with
// errors.Is. ErrNoRecorderURL and ErrInvalidURI (uri.go) are Start errors
// too.
var (
	// ErrAlreadyStarted: Start while the call is being recorded.
	ErrAlreadyStarted = errors.New("siprec: Cannot start recording when recording is already started")
	// ErrDuplicateStart: Start while another Start of the call is in
	// progress; the duplicate is discarded, not acted on.
	ErrDuplicateStart = errors.New("siprec: discarding duplicate startCallRecording request for a call: a start is already in progress")
	// ErrNotRecording: Stop, Pause or Resume while no recording server
	// dialog is up (never started, stopped, or every recorder hung up).
	ErrNotRecording = errors.New("siprec: not recording: no recording server dialog is up")
	// ErrAlreadyPaused: Pause while paused.
	ErrAlreadyPaused = errors.New("siprec: recording is already paused")
	// ErrNotPaused: Resume while not paused.
	ErrNotPaused = errors.New("siprec: recording is not paused")
	// ErrAllRecordersFailed: no recording server accepted a Start, Pause or
	// Resume. The error joins every recorder's *RecorderError.
	ErrAllRecordersFailed = errors.New("siprec: no recording server accepted")
	// ErrRefused: a recording server answered with a final non-2xx response
	// (RecorderError.StatusCode says which).
	ErrRefused = errors.New("siprec: recording server refused")
	// ErrNoAnswer: a recording server gave no final answer in time
	// (ClientConfig.AnswerTimeout or the caller's context), or the
	// transaction failed (connection refused, timer B).
	ErrNoAnswer = errors.New("siprec: recording server did not answer")
	// ErrBadAnswer: a recording server accepted with an SDP answer that
	// cannot be used (no SDP, malformed, no stream accepted).
	ErrBadAnswer = errors.New("siprec: unusable answer from recording server")
	// ErrClientClosed: the Client was closed.
	ErrClientClosed = errors.New("siprec: client closed")
)

// RecorderError is what went wrong with one recording server in a Start,
// Pause, Resume or Stop. Err is ErrRefused, ErrNoAnswer, ErrBadAnswer, an
// ErrResolve error or a transport error.
type RecorderError struct {
	// URI is the recording server, as Start was given it.
	URI        URI
	Op         string // "start", "pause", "resume" or "stop"
	Target     Target // the address last tried; zero when none
	StatusCode int    // the final SIP response; 0 when none came
	Reason     string // its reason phrase
	// Err is what happened: ErrRefused, ErrNoAnswer, ErrBadAnswer, an
	// ErrResolve error or a transport error; match it with errors.Is.
	Err error
}

// Error names the operation, the recorder and what happened.
func (e *RecorderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "siprec: %s recording at %s", e.Op, e.URI)
	if e.Target.Addr.IsValid() {
		fmt.Fprintf(&b, " (%s)", e.Target)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, e.Reason)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *RecorderError) Unwrap() error { return e.Err }

// RecorderResult is the outcome of an operation at one recording server.
type RecorderResult struct {
	// URI is the recording server, as Start was given it.
	URI URI
	// Target is the address that answered (or was last tried).
	Target Target
	// StatusCode is the final SIP response, 0 when none came.
	StatusCode int
	// CallID is the SIPREC dialog's Call-ID, when a dialog was attempted.
	CallID string
	// Err is nil when the recorder accepted, else a *RecorderError.
	Err error
}

// OK reports whether the recorder accepted.
func (r RecorderResult) OK() bool { return r.Err == nil }

// String is one line for logs and tools: "sip:… tcp:…: 200" or the error.
func (r RecorderResult) String() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("%s (%s): %d", r.URI, r.Target, r.StatusCode)
}

// StartRequest is what Start needs.
type StartRequest struct {
	// Recorders are the recording servers, recorded in parallel; at least
	// one (ErrNoRecorderURL). ParseURIList reads them from the Call Recording
	// Server field or the X-Srs-Url header.
	Recorders URIList
	// RecordingID, when set, is forwarded to every recorder for correlation:
	// in the metadata's recordingID extension and in the X-Srs-Recording-ID
	// header (HeaderRecordingID).
	RecordingID string
}

// ManagerConfig describes the call a Manager records. The zero value
// records a two-party call with streams labelled "1" and "2".
type ManagerConfig struct {
	// Call is the call as the metadata describes it (RFC 7865): its
	// Session-ID values, start time (default: the time of each Start) and
	// parties, each with the label of the stream it sends. Every labelled
	// party gets a Fork. Default: "sip:caller@invalid" sending "1" and
	// "sip:callee@invalid" sending "2". Call.RecordingID is ignored: the
	// recording ID comes with each Start.
	Call metadata.Call
	// OnRecorderEnded is called when a recording server ends its dialog on
	// its own (BYE, or 481/408 to a re-INVITE), not on Stop. It runs on the
	// SIP handler's goroutine and must return quickly.
	OnRecorderEnded func(RecorderStatus)
	// Logger receives the call's recording events; default the Client's.
	Logger *slog.Logger
}

// RecorderStatus describes one live (or just ended) recording server dialog.
type RecorderStatus struct {
	// URI is the recording server, as Start was given it.
	URI URI
	// Target is the address the dialog was established with.
	Target Target
	// CallID is the SIPREC dialog's Call-ID ("" before a dialog exists).
	CallID string
	// Sending is false while the dialog's negotiated direction is inactive
	// (paused) or the recorder asked not to receive.
	Sending bool
	// Streams are the forked streams of this dialog, one per labelled
	// party of ManagerConfig.Call (Fork).
	Streams []StreamStatus
}

// StreamStatus is one forked stream towards one recording server.
type StreamStatus struct {
	// Label is the stream's a=label, the one the metadata names.
	Label string
	// Remote is where the recorder answered to receive the stream; invalid
	// when it rejected the stream.
	Remote netip.AddrPort
	// Codec is the codec negotiated with this recorder (zero when the
	// stream was rejected).
	Codec media.Codec
	// SSRC is the RTP SSRC of this forked stream: each recorder's copy
	// of each stream has its own.
	SSRC uint32
	// Packets counts the RTP packets sent on this stream to this recorder.
	Packets uint64
	// Sending reports whether packets go out now: the dialog is sending
	// (RecorderStatus.Sending) and the recorder accepted to receive the
	// stream.
	Sending bool
}

// Manager records one call with SIPREC: it starts, pauses, resumes and
// stops recording at one or more recording servers in parallel, and forks
// the call's audio to them (Fork). Operations are serialised; a Start that
// comes while another is in progress is refused at once (ErrDuplicateStart).
// A Manager can record again after Stop.
//
// A recorded call stays one session for licensing: a Manager reports the
// dialogs and streams it opens (Recorders) but counts nothing.
type Manager struct {
	c      *Client
	cfg    ManagerConfig
	call   metadata.Call
	log    *slog.Logger
	forks  []*Fork
	paused atomic.Bool // the call's recording is paused: nothing is sent

	opMu sync.Mutex // serialises Start, Stop, Pause, Resume

	stMu        sync.Mutex
	starting    bool
	cancelStart context.CancelFunc
	recs        []*recorder // live dialogs
}

// NewManager returns a Manager for one call.
func (c *Client) NewManager(cfg ManagerConfig) (*Manager, error) {
	call := cfg.Call
	call.RecordingID = ""
	if len(call.Parties) == 0 {
		call.Parties = []metadata.Party{
			{AOR: "sip:caller@invalid", Label: "1"},
			{AOR: "sip:callee@invalid", Label: "2"},
		}
	} else {
		call.Parties = append([]metadata.Party(nil), call.Parties...)
	}
	if call.SessionID == "" {
		call.SessionID = metadata.NewID()
	}
	m := &Manager{c: c, cfg: cfg, log: cfg.Logger}
	if m.log == nil {
		m.log = c.log
	}
	seen := map[string]bool{}
	for i := range call.Parties {
		p := &call.Parties[i]
		if p.ID == "" {
			p.ID = metadata.NewID()
		}
		if p.Label == "" {
			continue
		}
		if seen[p.Label] {
			return nil, fmt.Errorf("siprec: ManagerConfig.Call: two parties send the stream labelled %q", p.Label)
		}
		seen[p.Label] = true
		if p.StreamID == "" {
			p.StreamID = metadata.NewID()
		}
		m.forks = append(m.forks, &Fork{label: p.Label, m: m})
	}
	if len(m.forks) == 0 {
		return nil, errors.New("siprec: ManagerConfig.Call: no party has a stream label, so there is nothing to record")
	}
	m.call = call
	return m, nil
}

// Forks returns the call's streams, one per labelled party, in the order of
// ManagerConfig.Call.Parties.
func (m *Manager) Forks() []*Fork { return m.forks }

// Fork returns the stream labelled label.
func (m *Manager) Fork(label string) (*Fork, bool) {
	for _, f := range m.forks {
		if f.label == label {
			return f, true
		}
	}
	return nil, false
}

// Recording reports whether at least one recording server dialog is up.
func (m *Manager) Recording() bool {
	m.stMu.Lock()
	defer m.stMu.Unlock()
	return len(m.recs) > 0
}

// Paused reports whether the recording is paused.
func (m *Manager) Paused() bool { return m.paused.Load() }

// Recorders describes the live recording server dialogs.
func (m *Manager) Recorders() []RecorderStatus {
	m.stMu.Lock()
	recs := append([]*recorder(nil), m.recs...)
	m.stMu.Unlock()
	out := make([]RecorderStatus, len(recs))
	for i, r := range recs {
		out[i] = r.status()
	}
	return out
}

// Start opens a SIPREC dialog to every recorder of req in parallel (RFC
// 7866 §6.1): an INVITE with Require: siprec, a Contact with +sip.src, and
// a multipart body of an SDP offer (one sendonly m= line per Fork, labelled)
// and the call's RFC 7865 metadata (with the recording ID). Each recorder
// is located with RFC 3263 (Resolve) and tried address after address on
// transport failures and 503; each has ClientConfig.AnswerTimeout to
// answer. Start returns when every recorder has answered or failed, with a
// result per recorder, and succeeds when at least one accepted; media
// flows to each recorder as soon as it accepts.
//
// Errors: ErrNoRecorderURL or ErrInvalidURI for req.Recorders,
// ErrDuplicateStart while another Start is in progress (it is not acted
// on), ErrAlreadyStarted while recording, and ErrAllRecordersFailed (joined
// with each *RecorderError) when none accepted.
func (m *Manager) Start(ctx context.Context, req StartRequest) ([]RecorderResult, error) {
	if len(req.Recorders) == 0 {
		return nil, ErrNoRecorderURL
	}
	for i, u := range req.Recorders {
		if !u.IsValid() {
			return nil, &URIError{Item: i + 1, Column: 1, Reason: "the recording server URI is empty"}
		}
		for j := range i {
			if req.Recorders[j] == u {
				return nil, &URIError{Input: u.String(), Item: i + 1, Column: 1, Reason: "this recording server is listed twice"}
			}
		}
	}
	m.stMu.Lock()
	switch {
	case m.starting:
		m.stMu.Unlock()
		m.log.Info("siprec: discarding duplicate startCallRecording request for a call", "reason", "a start is already in progress")
		return nil, ErrDuplicateStart
	case len(m.recs) > 0:
		m.stMu.Unlock()
		m.log.Info("siprec: Cannot start recording when recording is already started")
		return nil, ErrAlreadyStarted
	}
	m.starting = true
	sctx, cancel := context.WithCancel(ctx)
	m.cancelStart = cancel
	m.stMu.Unlock()
	defer func() {
		m.stMu.Lock()
		m.starting = false
		m.cancelStart = nil
		m.stMu.Unlock()
		cancel()
	}()

	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.paused.Store(false)
	call := m.call
	call.RecordingID = req.RecordingID
	if call.Start.IsZero() {
		call.Start = time.Now().UTC().Truncate(time.Second)
	}
	md := metadata.NewComplete(call)

	results := make([]RecorderResult, len(req.Recorders))
	var wg sync.WaitGroup
	for i, u := range req.Recorders {
		wg.Go(func() { results[i] = m.startOne(sctx, i, u, md, req.RecordingID) })
	}
	wg.Wait()

	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
			m.log.Warn("siprec: recording server did not accept", "uri", r.URI.String(), "target", r.Target.String(), "status", r.StatusCode, "error", r.Err)
		} else {
			m.log.Info("siprec: recording server accepted", "uri", r.URI.String(), "target", r.Target.String(), "call_id", r.CallID)
		}
	}
	if len(errs) == len(results) {
		return results, fmt.Errorf("%w (of %d): %w", ErrAllRecordersFailed, len(results), errors.Join(errs...))
	}
	return results, nil
}

// startOne opens the dialog to one recorder.
func (m *Manager) startOne(ctx context.Context, index int, u URI, md *metadata.Recording, recordingID string) RecorderResult {
	ctx, cancel := m.c.waitCtx(ctx)
	defer cancel()
	res := RecorderResult{URI: u}
	fail := func(code int, reason string, err error) RecorderResult {
		res.StatusCode = code
		res.Err = &RecorderError{URI: u, Op: "start", Target: res.Target, StatusCode: code, Reason: reason, Err: err}
		return res
	}
	targets, err := Resolve(ctx, m.c.cfg.Resolver, u)
	if err != nil {
		return fail(0, "", err)
	}
	r := &recorder{m: m, index: index, uri: u, sessID: rand.Uint64N(1 << 62), dir: media.SendOnly}
	r.sending.Store(true)
	if err := r.allocate(); err != nil {
		return fail(0, "", err)
	}
	code, reason := 0, ""
	var lastErr error
	for _, t := range targets {
		res.Target = t
		host, err := m.c.hostFor(t.Addr)
		if err != nil {
			lastErr = err
			continue
		}
		d, err := newDialog(m.c, r, u, t, host)
		if err != nil {
			lastErr = err
			break
		}
		r.mu.Lock()
		r.d, r.host, r.target = d, host, t
		offer, err := r.sdpLocked(media.SendOnly)
		r.mu.Unlock()
		if err != nil {
			lastErr = err
			break
		}
		ctype, body, err := BuildBody(offer, md, nil)
		if err != nil {
			lastErr = err
			break
		}
		res.CallID = d.callID
		if err := m.c.register(d); err != nil {
			lastErr = err
			break
		}
		resp, err := d.request(ctx, func() *sip.Request {
			req := d.newRequest(sip.INVITE)
			req.AppendHeader(sip.NewHeader("Require", "siprec"))
			req.AppendHeader(sip.NewHeader("Allow", allowMethods))
			if recordingID != "" {
				req.AppendHeader(sip.NewHeader(HeaderRecordingID, recordingID))
			}
			setBody(req, body, ctype)
			return req
		})
		if err != nil {
			if ctx.Err() == nil {
				m.c.unregister(d) // else abandon() unregisters once the INVITE ends
			}
			lastErr = fmt.Errorf("%w: %w", ErrNoAnswer, err)
			if ctx.Err() != nil {
				break
			}
			continue // RFC 3263 §4.3: the next address
		}
		code, reason = resp.StatusCode, resp.Reason
		if !resp.IsSuccess() {
			m.c.unregister(d)
			lastErr = ErrRefused
			if resp.StatusCode == 503 {
				continue
			}
			break
		}
		if err := r.applyAnswer(resp.Body(), bodyType(resp)); err != nil {
			r.release()
			bctx, stop := m.c.waitCtx(context.WithoutCancel(ctx))
			_, _ = d.bye(bctx)
			stop()
			return fail(code, reason, err)
		}
		m.add(r)
		res.StatusCode = code
		return res
	}
	r.release()
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no address to try", ErrNoAnswer)
	}
	return fail(code, reason, lastErr)
}

// bodyType returns a message's Content-Type value, "" when absent.
func bodyType(m interface{ ContentType() *sip.ContentTypeHeader }) string {
	if h := m.ContentType(); h != nil {
		return h.Value()
	}
	return ""
}

// add makes r live: its streams receive the forks' audio. The live
// recorders stay in the order of the Start request, so that results and
// Recorders() follow it.
func (m *Manager) add(r *recorder) {
	m.stMu.Lock()
	i := len(m.recs)
	for i > 0 && m.recs[i-1].index > r.index {
		i--
	}
	m.recs = slices.Insert(m.recs, i, r)
	m.refreshLocked()
	m.stMu.Unlock()
}

// remove takes r out of the live recorders; it reports whether r was live.
func (m *Manager) remove(r *recorder) bool {
	m.stMu.Lock()
	defer m.stMu.Unlock()
	for i, x := range m.recs {
		if x == r {
			m.recs = append(m.recs[:i:i], m.recs[i+1:]...)
			m.refreshLocked()
			return true
		}
	}
	return false
}

// refreshLocked publishes the live recorders' legs to the forks.
func (m *Manager) refreshLocked() {
	for i, f := range m.forks {
		var legs []*forkLeg
		for _, r := range m.recs {
			if l := r.streams[i].leg.Load(); l != nil {
				legs = append(legs, l)
			}
		}
		f.legs.Store(&legs)
	}
}

func (m *Manager) refresh() {
	m.stMu.Lock()
	m.refreshLocked()
	m.stMu.Unlock()
}

// Stop ends every recording server dialog with BYE (in parallel) and stops
// the forks. A Start in progress is cancelled first (its unanswered INVITEs
// get CANCEL). BYE failures are reported per recorder; the dialogs end
// anyway. Stop returns ErrNotRecording when nothing was recording or
// starting.
func (m *Manager) Stop(ctx context.Context) ([]RecorderResult, error) {
	m.stMu.Lock()
	wasStarting := m.starting
	if m.cancelStart != nil {
		m.cancelStart()
	}
	m.stMu.Unlock()
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.stMu.Lock()
	recs := m.recs
	m.recs = nil
	m.refreshLocked()
	m.stMu.Unlock()
	m.paused.Store(false)
	if len(recs) == 0 {
		if wasStarting {
			return nil, nil
		}
		return nil, ErrNotRecording
	}
	results := make([]RecorderResult, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Go(func() { results[i] = r.stop(ctx) })
	}
	wg.Wait()
	m.log.Info("siprec: recording stopped", "recorders", len(recs))
	return results, nil
}

// Pause pauses the recording: nothing is sent to any recorder from now on
// (the forks' RTP timestamps keep running, so a recorder sees the pause's
// true length), and every live dialog gets a re-INVITE with a=inactive. It
// succeeds when at least one recorder accepts; when all refuse, the pause
// is rolled back (media flows again) and the error matches
// ErrAllRecordersFailed. ErrNotRecording, ErrAlreadyPaused otherwise.
func (m *Manager) Pause(ctx context.Context) ([]RecorderResult, error) {
	return m.setPaused(ctx, true)
}

// Resume resumes a paused recording with a re-INVITE (a=sendonly) to every
// live dialog; media flows to each recorder that accepted. When all refuse,
// the recording stays paused and the error matches ErrAllRecordersFailed.
// ErrNotRecording, ErrNotPaused otherwise.
func (m *Manager) Resume(ctx context.Context) ([]RecorderResult, error) {
	return m.setPaused(ctx, false)
}

func (m *Manager) setPaused(ctx context.Context, pause bool) ([]RecorderResult, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.stMu.Lock()
	recs := append([]*recorder(nil), m.recs...)
	m.stMu.Unlock()
	op, done, dir := "resume", "resumed", media.SendOnly
	if pause {
		op, done, dir = "pause", "paused", media.Inactive
	}
	switch {
	case len(recs) == 0:
		return nil, ErrNotRecording
	case pause && m.paused.Load():
		return nil, ErrAlreadyPaused
	case !pause && !m.paused.Load():
		return nil, ErrNotPaused
	}
	if pause {
		m.paused.Store(true) // stop the media at once, before anyone answers
	}
	results := make([]RecorderResult, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Go(func() { results[i] = r.redirect(ctx, op, dir) })
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	if len(errs) == len(results) {
		if pause {
			m.paused.Store(false) // roll back: recording goes on as before
		}
		m.log.Warn("siprec: no recording server accepted "+op, "recorders", len(recs))
		return results, fmt.Errorf("%w (%s, %d recorders): %w", ErrAllRecordersFailed, op, len(results), errors.Join(errs...))
	}
	if !pause {
		m.paused.Store(false)
	}
	m.log.Info("siprec: recording "+done, "accepted", len(results)-len(errs), "recorders", len(recs))
	return results, nil
}

// recorder is one recording server's dialog in a call.
type recorder struct {
	m       *Manager
	index   int // position in the Start request
	uri     URI
	sessID  uint64
	streams []*recStream // one per fork, in the forks' order

	mu      sync.Mutex
	d       *dialog
	host    netip.Addr
	target  Target
	version uint64
	dir     media.Direction // our negotiated direction: SendOnly or Inactive
	gone    bool            // released
	srtp    bool            // the streams are offered as SRTP (ClientSRTPConfig)

	sending atomic.Bool // dir is SendOnly: the forks may send
}

// recStream is one fork towards one recorder.
type recStream struct {
	rec    *recorder
	fork   *Fork
	w      media.PacketWriter
	port   int
	free   func()
	remote atomic.Bool // the recorder receives (its direction is recvonly or sendrecv)
	leg    atomic.Pointer[forkLeg]
	codec  media.Codec // the fields below: r.mu held
	ptime  time.Duration
	dst    netip.AddrPort
	key    *media.Crypto // SRTP: our a=crypto line, the key we send with
	keyed  *media.Crypto // SRTP: the key of the current leg's Sender
}

// allocate gets an RTP endpoint per stream.
func (r *recorder) allocate() error {
	for _, f := range r.m.forks {
		w, port, free, err := r.m.c.rtpEndpoint()
		if err != nil {
			r.release()
			return fmt.Errorf("siprec: RTP port for stream %q: %w", f.label, err)
		}
		r.streams = append(r.streams, &recStream{rec: r, fork: f, w: w, port: port, free: free})
	}
	return nil
}

// release frees the endpoints (once).
func (r *recorder) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return
	}
	r.gone = true
	for _, s := range r.streams {
		s.leg.Store(nil)
		if s.free != nil {
			s.free()
		}
	}
}

// sdpLocked returns a new version of our SDP with every stream in
// direction dir; r.mu held.
func (r *recorder) sdpLocked(dir media.Direction) ([]byte, error) {
	r.version++
	sd := media.SessionDescription{
		Origin:      media.Origin{Username: "voicegw", SessionID: r.sessID, SessionVersion: r.version, Address: r.host.String()},
		SessionName: "voicegw SIPREC",
		Address:     r.host,
	}
	r.srtp = r.m.c.cfg.SRTP.Offers(r.target)
	for _, s := range r.streams {
		codecs := r.m.c.cfg.Codecs
		if l := s.leg.Load(); l != nil {
			codecs = []media.Codec{s.codec} // keep what was negotiated
		}
		line := media.Media{
			Type: "audio", Port: s.port, Protocol: media.ProtoRTP, Codecs: codecs,
			PTime: 20 * time.Millisecond, Label: s.fork.label, Direction: dir,
		}
		if r.srtp {
			if s.key == nil {
				k, err := media.NewCrypto(1, r.m.c.cfg.SRTP.Suite)
				if err != nil {
					return nil, err
				}
				s.key = &k
			}
			line.Protocol, line.Crypto = media.ProtoSRTP, []media.Crypto{*s.key}
		}
		sd.Media = append(sd.Media, line)
	}
	return sd.Marshal()
}

// applyAnswer takes the recorder's SDP answer: where each stream goes, in
// which codec, and whether the recorder receives it.
func (r *recorder) applyAnswer(body []byte, ctype string) error {
	b, err := ParseBody(ctype, body, &BodyOptions{RequireSDP: true})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	ans, err := media.ParseSDP(b.SDP)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	r.mu.Lock()
	defer r.m.refresh()
	defer r.mu.Unlock()
	accepted := 0
	for i, s := range r.streams {
		var line *media.Media
		if l, ok := ans.MediaByLabel(s.fork.label); ok {
			line = l
		} else if i < len(ans.Media) && ans.Media[i].Label == "" {
			line = &ans.Media[i]
		}
		codec, ok := media.Codec{}, false
		if line != nil && !line.Rejected() {
			codec, ok = line.AudioCodec()
		}
		if !ok {
			s.remote.Store(false)
			continue
		}
		if r.srtp {
			// never in clear to a recorder offered SRTP
			offered := media.Media{Protocol: media.ProtoSRTP, Crypto: []media.Crypto{*s.key}}
			if _, err := media.NegotiatedSDES(&offered, line); err != nil {
				return fmt.Errorf("%w: stream %q: %w", ErrBadAnswer, s.fork.label, err)
			}
		}
		accepted++
		if err := r.route(s, line.RTPAddr(), codec, line.PTime); err != nil {
			return fmt.Errorf("%w: stream %q: %w", ErrBadAnswer, s.fork.label, err)
		}
		s.remote.Store(line.Direction.Receives())
	}
	if accepted == 0 {
		return fmt.Errorf("%w: the recording server accepted no stream", ErrBadAnswer)
	}
	return nil
}

// route points stream s at dst in codec (a new Sender when the codec,
// ptime or SRTP key changes, continuing the SSRC, sequence and
// timestamps); r.mu held.
func (r *recorder) route(s *recStream, dst netip.AddrPort, codec media.Codec, ptime time.Duration) error {
	if ptime <= 0 || ptime%time.Millisecond != 0 {
		ptime = 20 * time.Millisecond
	}
	old := s.leg.Load()
	rekey := r.srtp && s.keyed != s.key
	if old != nil && !rekey && s.codec.PayloadType == codec.PayloadType && s.codec.Encoding == codec.Encoding && s.ptime == ptime {
		if s.dst != dst {
			old.s.SetRemote(dst)
			s.dst = dst
		}
		return nil
	}
	if old != nil && r.srtp && !rekey {
		// A new context for the same key would start its rollover counter
		// again and could repeat a keystream already used.
		return fmt.Errorf("siprec: SRTP stream: a new codec or ptime needs a new key")
	}
	cfg := media.SenderConfig{Codec: codec, PTime: ptime}
	if old != nil {
		st := old.s.Stats()
		cfg.SSRC, cfg.Sequence, cfg.Timestamp = st.SSRC, st.Sequence, st.Timestamp
	}
	if r.srtp {
		ctx, err := media.NewSRTPContext(*s.key, media.SRTPConfig{})
		if err != nil {
			return err
		}
		cfg.SRTP = ctx
	}
	snd, err := media.NewSender(s.w, dst, cfg)
	if err != nil {
		return err
	}
	s.codec, s.ptime, s.dst = codec, ptime, dst
	if r.srtp {
		s.keyed = s.key
	}
	s.leg.Store(&forkLeg{stream: s, s: snd, enc: codec.Encoding})
	return nil
}

// redirect sends a re-INVITE with every stream in direction dir.
func (r *recorder) redirect(ctx context.Context, op string, dir media.Direction) RecorderResult {
	r.mu.Lock()
	d, t := r.d, r.target
	sdp, err := r.sdpLocked(dir)
	r.mu.Unlock()
	if d == nil {
		return RecorderResult{URI: r.uri, Err: &RecorderError{URI: r.uri, Op: op, Err: ErrNotRecording}}
	}
	res := RecorderResult{URI: r.uri, Target: t, CallID: d.callID}
	fail := func(code int, reason string, err error) RecorderResult {
		res.StatusCode = code
		res.Err = &RecorderError{URI: r.uri, Op: op, Target: t, StatusCode: code, Reason: reason, Err: err}
		return res
	}
	if err != nil {
		return fail(0, "", err)
	}
	ctx, cancel := r.m.c.waitCtx(ctx)
	defer cancel()
	resp, err := d.reinvite(ctx, sdp, ContentTypeSDP)
	if err != nil {
		return fail(0, "", fmt.Errorf("%w: %w", ErrNoAnswer, err))
	}
	res.StatusCode = resp.StatusCode
	if !resp.IsSuccess() {
		if resp.StatusCode == 481 || resp.StatusCode == 408 {
			// RFC 3261 §12.2.1.2: the dialog is gone.
			d.endedByRemote()
		}
		return fail(resp.StatusCode, resp.Reason, ErrRefused)
	}
	if err := r.applyAnswer(resp.Body(), bodyType(resp)); err != nil {
		return fail(resp.StatusCode, resp.Reason, err)
	}
	r.mu.Lock()
	r.dir = dir
	r.sending.Store(dir.Sends())
	r.mu.Unlock()
	return res
}

// stop sends BYE and frees the endpoints.
func (r *recorder) stop(ctx context.Context) RecorderResult {
	r.mu.Lock()
	d, t := r.d, r.target
	r.mu.Unlock()
	if d == nil {
		r.release()
		return RecorderResult{URI: r.uri}
	}
	res := RecorderResult{URI: r.uri, Target: t, CallID: d.callID}
	ctx, cancel := r.m.c.waitCtx(ctx)
	defer cancel()
	resp, err := d.bye(ctx)
	r.release()
	switch {
	case err != nil:
		res.Err = &RecorderError{URI: r.uri, Op: "stop", Target: t, Err: fmt.Errorf("%w: %w", ErrNoAnswer, err)}
	case resp == nil: // already ended
	case !resp.IsSuccess():
		res.StatusCode = resp.StatusCode
		res.Err = &RecorderError{URI: r.uri, Op: "stop", Target: t, StatusCode: resp.StatusCode, Reason: resp.Reason, Err: ErrRefused}
	default:
		res.StatusCode = resp.StatusCode
	}
	return res
}

// answer implements dialogHandler: our answer to the recording server's
// offer, or our current SDP as a new offer when it sent none.
func (r *recorder) answer(body []byte, ctype string) ([]byte, string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := r.dir
	if r.m.paused.Load() {
		dir = media.Inactive
	}
	var sdpBody []byte
	if len(body) > 0 {
		b, err := ParseBody(ctype, body, nil)
		switch {
		case errors.Is(err, ErrUnsupportedBody):
			return nil, "", 415
		case err != nil:
			return nil, "", 400
		}
		sdpBody = b.SDP
	}
	if sdpBody == nil {
		sdp, err := r.sdpLocked(dir)
		if err != nil {
			return nil, "", 500
		}
		return sdp, ContentTypeSDP, 200
	}
	offer, err := media.ParseSDP(sdpBody)
	if err != nil {
		return nil, "", 400
	}
	r.version++
	codecs := make([]media.Codec, 0, len(r.streams))
	for _, s := range r.streams {
		if s.leg.Load() != nil {
			codecs = append(codecs, s.codec)
		}
	}
	codecs = append(codecs, r.m.c.cfg.Codecs...)
	streamOf := func(i int, m *media.Media) *recStream {
		for _, s := range r.streams {
			if m.Label != "" && s.fork.label == m.Label {
				return s
			}
		}
		if m.Label == "" && i < len(r.streams) {
			return r.streams[i]
		}
		return nil
	}
	var sdes *media.SDESConfig
	if r.srtp {
		sdes = &media.SDESConfig{Require: true}
	}
	ans, err := media.Answer(offer, media.AnswerConfig{
		SDES:        sdes,
		Address:     r.host,
		Origin:      media.Origin{Username: "voicegw", SessionID: r.sessID, SessionVersion: r.version, Address: r.host.String()},
		SessionName: "voicegw SIPREC",
		Codecs:      codecs,
		Direction:   dir,
		Port: func(i int, m *media.Media) (int, error) {
			if s := streamOf(i, m); s != nil {
				return s.port, nil
			}
			return 0, fmt.Errorf("no stream labelled %q", m.Label)
		},
	})
	if err != nil {
		return nil, "", 488
	}
	for i := range ans.Media {
		a := &ans.Media[i]
		s := streamOf(i, &offer.Media[i])
		if s == nil || a.Rejected() {
			continue
		}
		if r.srtp {
			keys, err := media.NegotiatedSDES(&offer.Media[i], a)
			if err != nil {
				continue
			}
			s.key = &keys.Answer // the new key we send with
		}
		if codec, ok := a.AudioCodec(); ok {
			_ = r.route(s, offer.Media[i].RTPAddr(), codec, a.PTime)
			s.remote.Store(offer.Media[i].Direction.Receives())
		}
	}
	r.m.refresh()
	out, err := ans.Marshal()
	if err != nil {
		return nil, "", 500
	}
	return out, ContentTypeSDP, 200
}

// acked implements dialogHandler: the answer to our offer in a 200 to an
// offerless re-INVITE.
func (r *recorder) acked(sdp []byte) {
	if err := r.applyAnswer(sdp, ContentTypeSDP); err != nil {
		r.m.log.Warn("siprec: unusable SDP answer in ACK", "uri", r.uri.String(), "error", err)
	}
}

// ended implements dialogHandler: the recording server hung up. Only its
// dialog ends.
func (r *recorder) ended() {
	st := r.status() // before release frees the streams (and their counters)
	live := r.m.remove(r)
	r.release()
	if !live {
		return
	}
	r.m.log.Info("siprec: recording server ended its dialog", "uri", r.uri.String(), "call_id", st.CallID)
	if r.m.cfg.OnRecorderEnded != nil {
		r.m.cfg.OnRecorderEnded(st)
	}
}

func (r *recorder) status() RecorderStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RecorderStatus{URI: r.uri, Target: r.target, Sending: r.dir.Sends() && !r.m.paused.Load()}
	if r.d != nil {
		st.CallID = r.d.callID
	}
	for _, s := range r.streams {
		ss := StreamStatus{Label: s.fork.label}
		if l := s.leg.Load(); l != nil {
			stats := l.s.Stats()
			ss.Remote, ss.Codec, ss.SSRC, ss.Packets = s.dst, s.codec, stats.SSRC, stats.Packets
			ss.Sending = st.Sending && s.remote.Load()
		}
		st.Streams = append(st.Streams, ss)
	}
	return st
}

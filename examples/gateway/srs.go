package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/tenancy"
)

// srs is the SIP side of the gateway: a sipgo server whose requests pass
// the Guard (guarded) and then go to a siprec.Server whose Policy is admit
// and whose sinks record (newSession).
type srs struct {
	g      *Gateway
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	server *siprec.Server
	active atomic.Int64
}

func (g *Gateway) newSRS() (*srs, error) {
	ua, srv, err := newSIPServer(g.log)
	if err != nil {
		return nil, err
	}
	s := &srs{g: g, ua: ua, srv: srv}
	addr := g.cfg.SIP.MediaAddress
	if addr == "" {
		addr = g.cfg.RTP.Address
	}
	s.server, err = siprec.NewServer(siprec.Config{
		Ports:        g.ports,
		MediaAddress: netip.MustParseAddr(addr),
		Policy:       siprec.PolicyFunc(s.admit),
		Receiver:     media.ReceiverConfig{Poller: g.poller},
		AckTimeout:   g.cfg.SIP.AckTimeout,
		MediaTimeout: g.cfg.SIP.MediaTimeout,
		Logger:       g.log.With("component", "siprec"),
	})
	if err != nil {
		_ = ua.Close()
		return nil, err
	}
	return s, nil
}

// serve registers the SIPREC server behind the Guard and serves SIP on the
// bound listeners.
func (s *srs) serve(ctx context.Context, errc chan<- error) error {
	if err := s.server.Register(ctx, s.srv, s.g.guarded); err != nil {
		return err
	}
	if s.g.sipUDP != nil {
		go func() { errc <- fmt.Errorf("sip udp: %w", s.srv.ServeUDP(s.g.sipUDP)) }()
	}
	if s.g.sipTCP != nil {
		go func() { errc <- fmt.Errorf("sip tcp: %w", s.srv.ServeTCP(s.g.sipTCP)) }()
	}
	return nil
}

// shutdown ends every session (BYE), which finalizes their recordings, and
// refuses new ones; it returns how many sessions it ended.
func (s *srs) shutdown(ctx context.Context) int {
	n := len(s.server.Sessions())
	if err := s.server.Shutdown(ctx); err != nil {
		s.g.log.Warn("shutdown: not every BYE was sent", "error", err)
	}
	return n
}

func (s *srs) close() { _ = s.ua.Close() }

// activeSessions returns the sessions in progress.
func (s *srs) activeSessions() int { return int(s.active.Load()) }

// admitted is what admit hands to the session's sink (siprec.Admission.Sink).
type admitted struct {
	account *tenancy.Account
	app     *tenancy.Application
	format  tenancy.AudioFormat // "" when the session is not recorded
	lease   string
}

// admit is the gateway's SIPREC policy, run for each SIPREC INVITE that
// passed the Guard: the account (the Guard's tenant) → its SIPREC
// application → the recording decision (tenancy.Decide) → a licensed
// session (the limiter; 486 past the limit, 503 when it cannot decide).
func (s *srs) admit(ctx context.Context, o *siprec.Offer) (siprec.Admission, error) {
	g := s.g
	refuse := func(reason string, code int, phrase string) (siprec.Admission, error) {
		setOutcome(ctx, reason)
		g.log.Info("call refused", "reason", reason, "code", code, "call_id", o.CallID, "source", o.Source)
		return siprec.Admission{}, siprec.Reject(code, phrase)
	}
	if g.closing.Load() {
		setOutcome(ctx, "shutting_down")
		return siprec.Admission{}, &siprec.Rejection{Code: 503, RetryAfter: 30 * time.Second}
	}
	id, ok := sip.IdentityFrom(ctx)
	if !ok || id.Tenant == "" {
		return refuse("no_tenant", 403, "")
	}
	acct, err := g.st.tenants.Account(ctx, tenancy.SID(id.Tenant))
	if err != nil {
		g.log.Error("reading the account failed", "account", id.Tenant, "error", err)
		return refuse("server_error", 500, "")
	}
	var app *tenancy.Application
	if acct.SIPRECApplication != "" {
		if app, err = g.st.tenants.Application(ctx, acct.SIPRECApplication); err != nil && !errors.Is(err, tenancy.ErrNotFound) {
			g.log.Error("reading the application failed", "account", acct.Name, "error", err)
			return refuse("server_error", 500, "")
		}
	}
	dec := tenancy.Decide(acct, app)
	if !dec.Record {
		g.log.Info("not recording", "account", acct.Name, "why", dec.Reason)
		return refuse("not_recorded", 403, "Recording Not Enabled")
	}
	if app == nil {
		// the account records all calls but has no SIPREC application: the
		// object key uses "-" for it (tenancy.RecordingKey)
		app = &tenancy.Application{Account: acct.SID}
	}
	lease := randomToken(12)
	if err := g.st.limiter.Acquire(ctx, acct.SID, lease, acct.SessionLimit()); err != nil {
		code, phrase := tenancy.SIPStatus(err)
		reason := "limiter_unavailable"
		if errors.Is(err, tenancy.ErrLimitReached) {
			reason = "licensed_sessions"
		} else {
			g.log.Error("licensed-sessions limiter failed", "account", acct.Name, "error", err)
		}
		return refuse(reason, code, phrase)
	}
	format := dec.Format
	if format == tenancy.FormatMP3 && g.lame == nil {
		g.log.Error("MP3 asked for but LAME is unavailable: recording WAV", "account", acct.Name)
		format = tenancy.FormatWAV
	}
	a := &admitted{account: acct, app: app, format: format, lease: lease}
	return siprec.Admission{Sink: func(ctx context.Context, sess *siprec.Session) (siprec.SessionSink, error) {
		return s.newSession(ctx, sess, a)
	}, Release: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.st.limiter.Release(ctx, acct.SID, lease); err != nil {
			g.log.Warn("releasing a licensed session failed (its lease expires by itself)", "account", acct.Name, "error", err)
		}
	}}, nil
}

// newSession starts recording a session the policy admitted: one file for
// the session (a stereo WAV or MP3 for two streams, the first m-line on the
// left), and a journal row so that a crash cannot lose the session.
func (s *srs) newSession(ctx context.Context, sess *siprec.Session, a *admitted) (siprec.SessionSink, error) {
	g := s.g
	src, dst := parties(sess.Participants())
	e := &journalEntry{
		SessionID: sess.ID(), Account: string(a.account.SID), Application: appSID(a.app),
		Format: string(a.format), CallID: sess.CallID(), RecordingID: sess.RecordingID(),
		Source: src, Destination: dst, Start: sess.Start(), Lease: a.lease,
	}
	log := g.log.With("session", e.SessionID, "account", a.account.Name)
	streams := sess.Streams()
	cfg := recording.Config{
		Start:         sess.Start(),
		FlushInterval: g.cfg.Record.FlushInterval,
		MP3:           recording.MP3Config{Bitrate: g.cfg.Record.MP3Bitrate},
		LAME:          g.lame,
		Logger:        log,
	}
	if a.format == tenancy.FormatMP3 {
		cfg.Format = recording.MP3
	}
	index := map[int]int{} // m-line index → recorder stream
	for i, st := range streams {
		cfg.Streams = append(cfg.Streams, recording.StreamConfig{Label: st.Label()})
		index[st.Index()] = i
	}
	rec, err := g.dir.Create(recording.ID{Account: e.Account, Application: e.Application, Session: e.SessionID}, cfg)
	if err != nil {
		g.metrics.recordingErrors.WithLabelValues("create").Inc()
		log.Error("cannot start the recording", "error", err)
		setOutcome(ctx, "recording_failed")
		return nil, siprec.Reject(500, "")
	}
	if err := g.st.journal.begin(ctx, e); err != nil {
		_ = rec.Abort()
		log.Error("cannot journal the session", "error", err)
		setOutcome(ctx, "server_error")
		return nil, siprec.Reject(500, "")
	}
	if sess.Paused() {
		_ = rec.Pause(sess.Start())
	}
	g.metrics.sessionsActive.Inc()
	s.active.Add(1)
	log.Info("session started", "call_id", e.CallID, "source", src, "destination", dst, "format", a.format,
		"streams", len(streams), "paused", sess.Paused(), "recording_id", e.RecordingID)
	return &sessionSink{s: s, sess: sess, entry: e, rec: rec, index: index, log: log}, nil
}

func appSID(app *tenancy.Application) string {
	if app == nil || app.SID == "" {
		return "-"
	}
	return string(app.SID)
}

// parties returns the session's source and destination: the addresses of
// record of the first two participants of the metadata, without scheme.
func parties(ps []metadata.ParticipantStreams) (src, dst string) {
	var aors []string
	for _, p := range ps {
		if aor := p.Participant.AOR(); aor != "" {
			for _, scheme := range []string{"sip:", "sips:", "tel:"} {
				aor = strings.TrimPrefix(aor, scheme)
			}
			aors = append(aors, aor)
		}
	}
	if len(aors) > 0 {
		src = aors[0]
	}
	if len(aors) > 1 {
		dst = aors[1]
	}
	return src, dst
}

// sessionSink records one session (siprec.SessionSink).
type sessionSink struct {
	s     *srs
	sess  *siprec.Session
	entry *journalEntry
	rec   *recording.Recorder
	index map[int]int
	log   *slog.Logger

	mu      sync.Mutex
	streams []*siprec.Stream // those feeding the recorder
}

// AddStream feeds a stream of the initial offer into its channel of the
// recording. Streams a re-INVITE adds later are not recorded (the file's
// layout is fixed at the start); they are logged.
func (k *sessionSink) AddStream(st *siprec.Stream) media.Handler {
	i, ok := k.index[st.Index()]
	if !ok {
		k.log.Warn("a stream added during the session is not recorded", "label", st.Label())
		return nil
	}
	h, err := k.rec.Stream(i).MediaHandler()
	if err != nil {
		k.log.Error("stream cannot be recorded", "label", st.Label(), "error", err)
		return nil
	}
	k.mu.Lock()
	k.streams = append(k.streams, st)
	k.mu.Unlock()
	k.s.g.metrics.rtp.add(st, func() rtpCounts {
		x := st.Stats()
		return rtpCounts{Received: x.Received, Lost: x.Lost, Late: x.Late}
	})
	return h
}

// RemoveStream ends the stream's part of the recording (silence from now).
func (k *sessionSink) RemoveStream(st *siprec.Stream, _ time.Time) {
	if i, ok := k.index[st.Index()]; ok {
		_ = k.rec.Stream(i).End()
	}
	k.s.g.metrics.rtp.done(st)
}

// Pause and Resume follow a=inactive and a=sendonly re-INVITEs.
func (k *sessionSink) Pause(at time.Time) {
	if err := k.rec.Pause(at); err != nil {
		k.log.Debug("pause", "error", err)
	}
}

func (k *sessionSink) Resume(at time.Time) {
	if err := k.rec.Resume(at); err != nil {
		k.log.Debug("resume", "error", err)
	}
}

// UpdateMetadata keeps the journal's participants and recording ID current.
func (k *sessionSink) UpdateMetadata(_ []metadata.Change, current *metadata.Recording) {
	src, dst := parties(current.ParticipantStreams())
	rid := k.sess.RecordingID()
	k.entry.Source, k.entry.Destination, k.entry.RecordingID = src, dst, rid
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := k.s.g.st.journal.update(ctx, k.entry.SessionID, src, dst, rid); err != nil {
		k.log.Warn("journal: updating the participants failed", "error", err)
	}
}

// End finishes the session in the background: every receiver has stopped,
// so the recording has all its audio.
func (k *sessionSink) End(reason siprec.EndReason, at time.Time) {
	g := k.s.g
	k.mu.Lock()
	for _, st := range k.streams {
		g.metrics.rtp.done(st)
	}
	k.mu.Unlock()
	g.metrics.sessionsActive.Dec()
	k.s.active.Add(-1)
	g.metrics.sessionsEnded.WithLabelValues(reason.String()).Inc()
	if reason == siprec.EndCancel {
		// never answered: no call to record
		_ = k.rec.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.st.journal.done(ctx, k.entry.SessionID)
		k.log.Info("session cancelled before it was answered")
		return
	}
	status := insights.StatusCodeOK
	switch reason {
	case siprec.EndBye:
	case siprec.EndShutdown, siprec.EndMediaTimeout, siprec.EndNoAck:
		status = insights.StatusCodeWarning
	default:
		status = insights.StatusCodeError
	}
	g.finishing.Add(1)
	go func() {
		defer g.finishing.Done()
		g.finishSession(k.entry, k.rec, at, reason.String(), status)
	}()
}

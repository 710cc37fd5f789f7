package siprec

import (
	"context"
	"time"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// SinkFactory creates the sink of each recording session the Server accepts.
// It is where a gateway plugs its recorder in: one recording per session.
type SinkFactory interface {
	// NewSession is called once per accepted SIPREC INVITE, after the
	// policy accepted it and RTP ports were allocated, before the answer is
	// sent. s already knows its streams (Session.Streams), metadata,
	// participants, recording ID and whether it starts paused. ctx is
	// cancelled when the client sends CANCEL, and when the call returns: do
	// not keep it. An error rejects the INVITE with 500, or with the code of
	// a *Rejection it wraps. It is not called for a session whose
	// Admission has a Sink: that constructor is called instead.
	NewSession(ctx context.Context, s *Session) (SessionSink, error)
}

// SinkFactoryFunc adapts a function to a SinkFactory.
type SinkFactoryFunc func(ctx context.Context, s *Session) (SessionSink, error)

// NewSession calls f.
func (f SinkFactoryFunc) NewSession(ctx context.Context, s *Session) (SessionSink, error) {
	return f(ctx, s)
}

// SessionSink receives one recording session: each stream's decoded audio
// and what happens to the session.
//
// Calls of the event methods (everything but the media.Handler that
// AddStream returns) are made one at a time, in the order things happened.
// The media.Handler of each stream is called from that stream's receive
// goroutine (see media.Handler), or from a worker of the media.Poller set in
// Config.Receiver, concurrently with other streams' handlers and with the
// event methods; one stream's calls never overlap. End is the last call:
// when it is made every stream's receiver has stopped and delivered what it
// held, so no handler call follows or overlaps it.
//
// Methods must return quickly: event methods hold up the SIP answer, audio
// handlers hold up reading the socket (with a Poller, the sockets of every
// stream on the same worker). Session and Stream getters may be
// called from any method.
type SessionSink interface {
	// AddStream is called for every stream the session receives: those
	// of the initial offer (before the answer is sent, in m-line order) and
	// those a re-INVITE or UPDATE adds. The returned handler gets the
	// stream's audio, gaps and DTMF on one continuous timeline (see package
	// media); nil discards them. While the stream is paused its audio is
	// delivered as gaps (media.GapSilence) and its DTMF is dropped, so a
	// recorder never sees what was said during a pause.
	AddStream(st *Stream) media.Handler
	// RemoveStream is called when a re-INVITE or UPDATE removes a stream
	// (port 0, or an m-line left out). Its handler is not called again.
	RemoveStream(st *Stream, at time.Time)
	// Pause is called when the session stops being recorded: every stream
	// is inactive after a re-INVITE or UPDATE (a=inactive). at is when the
	// answer was sent. A session whose initial offer is inactive starts
	// paused (Session.Paused is true in NewSession) and gets no Pause call.
	Pause(at time.Time)
	// Resume is called when a paused session is recorded again: a stream
	// is active again (a=sendonly or sendrecv). at is when the answer was
	// sent.
	Resume(at time.Time)
	// UpdateMetadata is called when a re-INVITE or UPDATE carried metadata
	// that changed the session's state: changes is what metadata.State.Apply
	// reported, current the merged state afterwards.
	UpdateMetadata(changes []metadata.Change, current *metadata.Recording)
	// End is called once when the session is over, with why and when.
	End(reason EndReason, at time.Time)
}

// NopSink is a SessionSink that ignores everything. Embed it in a sink to
// implement only the methods it needs.
type NopSink struct{}

// AddStream returns nil: the stream's audio is discarded.
func (NopSink) AddStream(*Stream) media.Handler { return nil }

// RemoveStream does nothing.
func (NopSink) RemoveStream(*Stream, time.Time) {}

// Pause does nothing.
func (NopSink) Pause(time.Time) {}

// Resume does nothing.
func (NopSink) Resume(time.Time) {}

// UpdateMetadata does nothing.
func (NopSink) UpdateMetadata([]metadata.Change, *metadata.Recording) {}

// End does nothing.
func (NopSink) End(EndReason, time.Time) {}

// EndReason says why a recording session ended.
type EndReason uint8

// The reasons a session ends.
const (
	// EndBye: the client sent BYE (the normal end of a recording).
	EndBye EndReason = iota + 1
	// EndCancel: the client sent CANCEL before the INVITE was answered.
	EndCancel
	// EndShutdown: the Server was shut down (Server.Shutdown).
	EndShutdown
	// EndNoAck: no ACK came for a 2xx answer within Config.AckTimeout;
	// the Server sent BYE (RFC 3261 §13.3.1.4).
	EndNoAck
	// EndMediaError: reading a stream's RTP socket failed; the Server sent
	// BYE.
	EndMediaError
	// EndMediaTimeout: no RTP arrived on any stream of an active (not
	// paused) session for Config.MediaTimeout; the Server sent BYE.
	EndMediaTimeout
	// EndError: the session could not be set up after the sink was created
	// (the answer could not be sent).
	EndError
	// EndHangup: the gateway ended the session (Session.Hangup), for
	// example because its recording can no longer be written; the Server
	// sent BYE with a Reason header, so the client can fail over to
	// another recording server.
	EndHangup
)

// String returns the reason's name, such as "bye".
func (r EndReason) String() string {
	switch r {
	case EndBye:
		return "bye"
	case EndCancel:
		return "cancel"
	case EndShutdown:
		return "shutdown"
	case EndNoAck:
		return "no-ack"
	case EndMediaError:
		return "media-error"
	case EndMediaTimeout:
		return "media-timeout"
	case EndError:
		return "error"
	case EndHangup:
		return "hangup"
	}
	return "unknown"
}

package siprec

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// The headers of the call-recording INFO requests a call controller sends
// to the SBC in the call's dialog (seed 003, the Call Recording Node).
const (
	// HeaderReason names the command: ReasonStart, ReasonStop, ReasonPause
	// or ReasonResume.
	HeaderReason = "X-Reason"
	// HeaderSrsURL is the recording server URI, or a comma-separated list
	// of them (ParseURIList). Required by ReasonStart.
	HeaderSrsURL = "X-Srs-Url"
	// The recording ID travels in HeaderRecordingID (X-Srs-Recording-ID),
	// optional.
)

// The X-Reason values of the call-recording INFO requests.
const (
	ReasonStart  = "startCallRecording"
	ReasonStop   = "stopCallRecording"
	ReasonPause  = "pauseCallRecording"
	ReasonResume = "resumeCallRecording"
)

// InfoAdapter turns the call-recording INFO requests that a call
// controller sends in a call's dialog into Manager operations, and answers
// them as seed 003 and the SBCs that implement it do:
//
//	X-Reason: startCallRecording
//	  no or empty X-Srs-Url                  400 Missing X-Srs-Url Header
//	                                         (log: startCallRecording request is missing X-Srs-Url header)
//	  X-Srs-Url not SIP URIs (wss://, https://,
//	  a bare host...)                        503 Service Unavailable, with a Warning saying why
//	  already recording, or a start in
//	  progress                               400 Duplicate Start Discarded
//	                                         (log: discarding duplicate startCallRecording request for a call)
//	  no recorder accepted                   503 Service Unavailable
//	  at least one recorder accepted         200 OK
//	X-Reason: stopCallRecording              200, or 400 Not Recording
//	                                         (log: discarding stopCallRecording request because we are not recording)
//	X-Reason: pauseCallRecording             200, 400 when not recording or already paused
//	                                         (log: discarding invalid pauseCallRecording request), 503 when no recorder accepted
//	X-Reason: resumeCallRecording            200, 400 when not recording or not paused
//	                                         (log: discarding invalid resumeCallRecording request), 503 when no recorder accepted
//	a call the gateway does not know         481 Call/Transaction Does Not Exist
//	another X-Reason, or none                Next, else 400 Unsupported X-Reason
//
// X-Srs-Recording-ID, when present, is forwarded as the recording ID. The
// response is sent when the operation has finished (a start waits for the
// recorders, at most ClientConfig.AnswerTimeout). Handle has the shape of
// sip.Handler, so the adapter goes behind a sip.Guard like any handler:
// srv.OnInfo(guard.Wrap(adapter.Handle).Sipgo(ctx)).
type InfoAdapter struct {
	// Manager returns the Manager of the call the INFO belongs to (found
	// by the request's Call-ID, typically). An error is answered 481.
	// Required.
	Manager func(ctx context.Context, req *sipgosip.Request) (*Manager, error)
	// Next handles the INFO requests that are not call-recording commands
	// (DTMF, mute...). Nil: they are answered 400.
	Next sip.Handler
	// Logger receives one line per command with its outcome; nil discards.
	Logger *slog.Logger
}

// Handle answers one INFO request.
func (a *InfoAdapter) Handle(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	respond := func(code int, reason string, hdrs ...sipgosip.Header) {
		res := sipgosip.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		if err := tx.Respond(res); err != nil {
			log.Debug("siprec: cannot answer INFO", "code", code, "error", err)
		}
	}
	command := headerValue(req, HeaderReason)
	switch command {
	case ReasonStart, ReasonStop, ReasonPause, ReasonResume:
	default:
		if a.Next != nil {
			a.Next(ctx, req, tx)
			return
		}
		respond(400, "Unsupported X-Reason")
		return
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	log = log.With("call_id", callID, "command", command)
	if a.Manager == nil {
		respond(500, "Server Internal Error")
		return
	}
	m, err := a.Manager(ctx, req)
	if err != nil || m == nil {
		log.Info("siprec: "+command+" request for an unknown call", "error", err)
		respond(481, "Call/Transaction Does Not Exist")
		return
	}

	switch command {
	case ReasonStart:
		srs := headerValue(req, HeaderSrsURL)
		if srs == "" {
			log.Info("startCallRecording request is missing X-Srs-Url header")
			respond(400, "Missing X-Srs-Url Header")
			return
		}
		list, err := ParseURIList(srs)
		if err != nil {
			// The URI may hold a password (refused, but given): the log
			// and the error (URIError.Input) show it masked.
			log.Warn("startCallRecording request has an invalid X-Srs-Url header", "x_srs_url", maskPassword(srs), "error", err)
			respond(503, "Service Unavailable", warning(err.Error()))
			return
		}
		id := headerValue(req, HeaderRecordingID)
		results, err := m.Start(ctx, StartRequest{Recorders: list, RecordingID: id})
		switch {
		case errors.Is(err, ErrDuplicateStart), errors.Is(err, ErrAlreadyStarted):
			log.Info("discarding duplicate startCallRecording request for a call", "reason", err)
			respond(400, "Duplicate Start Discarded")
		case err != nil:
			log.Warn("siprec: startCallRecording failed", "x_srs_url", srs, "recording_id", id, "error", err)
			respond(503, "Service Unavailable", warning(err.Error()))
		default:
			log.Info("siprec: startCallRecording", "x_srs_url", srs, "recording_id", id, "accepted", accepted(results), "recorders", len(results))
			respond(200, "OK")
		}
	case ReasonStop:
		if _, err := m.Stop(ctx); errors.Is(err, ErrNotRecording) {
			log.Info("discarding stopCallRecording request because we are not recording")
			respond(400, "Not Recording")
			return
		}
		log.Info("siprec: stopCallRecording")
		respond(200, "OK")
	case ReasonPause, ReasonResume:
		op := m.Pause
		if command == ReasonResume {
			op = m.Resume
		}
		results, err := op(ctx)
		switch {
		case errors.Is(err, ErrNotRecording), errors.Is(err, ErrAlreadyPaused), errors.Is(err, ErrNotPaused):
			log.Info("discarding invalid "+command+" request", "reason", err)
			reason := "Not Recording"
			if errors.Is(err, ErrAlreadyPaused) {
				reason = "Already Paused"
			} else if errors.Is(err, ErrNotPaused) {
				reason = "Not Paused"
			}
			respond(400, reason)
		case err != nil:
			log.Warn("siprec: "+command+" failed", "error", err)
			respond(503, "Service Unavailable", warning(err.Error()))
		default:
			log.Info("siprec: "+command, "accepted", accepted(results), "recorders", len(results))
			respond(200, "OK")
		}
	}
}

// headerValue returns a header's trimmed value, "" when absent.
func headerValue(req *sipgosip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

func accepted(results []RecorderResult) int {
	n := 0
	for _, r := range results {
		if r.OK() {
			n++
		}
	}
	return n
}

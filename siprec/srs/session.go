package srs

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/tenancy"
)

// Admission is what the Server's admission decided for one call: the
// account and application it belongs to and how it is recorded. It is read
// once per call and travels typed to the session's sink, journal, document
// and webhook.
type Admission struct {
	// Account is the account as read when the call was admitted.
	Account *tenancy.Account
	// Application is the account's SIPREC application; when the account
	// records all calls but has none, an Application with an empty SID (its
	// recordings are filed under "-", see tenancy.RecordingKey).
	Application *tenancy.Application
	// Format is the recording's format: the account's, or WAV when the
	// account asks for MP3 and LAME is unavailable.
	Format tenancy.AudioFormat
	// Lease is the session's key in the licensed-sessions limiter.
	Lease string
}

// applicationSID is the application's SID as it appears in object keys.
func (a *Admission) applicationSID() string { return appSID(a.Application) }

func appSID(app *tenancy.Application) string {
	if app == nil || app.SID == "" {
		return "-"
	}
	return string(app.SID)
}

// Session is one recording session of the Server: the SIPREC session, what
// its admission decided, its journal entry and its recording. Its getters
// are safe for concurrent use. A Session recovered from the Journal after a
// restart has no SIPREC session and no Admission (Account is nil): only
// its Entry is known.
type Session struct {
	adm  *Admission
	sess *siprec.Session
	log  *slog.Logger
	rec  *recording.Recorder
	// trace is the session's spans; nil for a recovered session
	trace *sessionTrace

	mu    sync.Mutex
	entry Entry
	// docDone: the document of the session's end was written (an
	// in-progress write that comes later is dropped)
	docDone bool
}

// ID returns the session ID (siprec.Session.ID): the recording's name.
func (s *Session) ID() string { return s.entry.SessionID }

// AccountSID returns the SID of the session's account.
func (s *Session) AccountSID() tenancy.SID { return tenancy.SID(s.entry.Account) }

// Admission returns what the admission decided, or nil for a session
// recovered after a restart.
func (s *Session) Admission() *Admission { return s.adm }

// SIPREC returns the SIPREC session, or nil for a session recovered after a
// restart.
func (s *Session) SIPREC() *siprec.Session { return s.sess }

// Recorder returns the session's recorder (nil for a recovered session).
func (s *Session) Recorder() *recording.Recorder { return s.rec }

// Logger returns the session's logger: the Server's, with session_id,
// call_id, account (the SID) and account_name.
func (s *Session) Logger() *slog.Logger { return s.log }

// Entry returns a copy of the session's journal entry as it is now.
func (s *Session) Entry() Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entry
}

// Start returns when the INVITE was received.
func (s *Session) Start() time.Time { return s.entry.Start }

// logAttrs are the fields every log line of a session carries.
func logAttrs(e *Entry, accountName string) []any {
	attrs := []any{"session_id", e.SessionID, "call_id", e.CallID, "account", e.Account}
	if accountName != "" {
		attrs = append(attrs, "account_name", accountName)
	}
	return attrs
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

package metadata

import (
	"slices"
	"time"
)

// Namespace is the XML namespace of RFC 7865 recording metadata. Documents are
// written with it as the default namespace.
const Namespace = "urn:ietf:params:xml:ns:recording:1"

// LegacyNamespace is the namespace of the pre-RFC drafts that some session
// border controllers still send; it is read as [Namespace].
const LegacyNamespace = "urn:ietf:params:xml:ns:recording"

// ContentType is the MIME type of recording metadata (RFC 7866 §12.2).
const ContentType = "application/rs-metadata+xml"

// LegacyContentType is the MIME type some recording clients send instead of
// [ContentType]; it is accepted on input.
const LegacyContentType = "application/rs-metadata"

// DataMode says whether a document is a complete snapshot of the recording
// session's metadata or a partial update (RFC 7865 §5).
type DataMode string

// The two data modes of RFC 7865.
const (
	Complete DataMode = "complete"
	Partial  DataMode = "partial"
)

// Recording is one <recording> document (RFC 7865 §6.1). The zero value is an
// empty complete document.
//
// Times are zero when the document does not give them. Slices are nil when
// the document has no such element.
type Recording struct {
	// DataMode is Complete or Partial; Parse sets Complete when the document
	// has no <datamode>, and Marshal writes "complete" for "".
	DataMode DataMode
	// Groups are the communication session groups (<group>, §6.2).
	Groups []Group
	// Sessions are the communication sessions (<session>, §6.3).
	Sessions []Session
	// Participants are the parties of the communication sessions
	// (<participant>, §6.5).
	Participants []Participant
	// Streams are the media streams (<stream>, §6.7); each names the SDP
	// a=label of the m-line that carries it.
	Streams []Stream
	// SessionRecordingAssocs relate communication sessions to this recording
	// session (<sessionrecordingassoc>, §6.4).
	SessionRecordingAssocs []SessionRecordingAssoc
	// ParticipantSessionAssocs relate participants to communication sessions
	// (<participantsessionassoc>, §6.6); a disassociate-time means the
	// participant left.
	ParticipantSessionAssocs []ParticipantSessionAssoc
	// ParticipantStreamAssocs say which streams each participant sends and
	// receives (<participantstreamassoc>, §6.8).
	ParticipantStreamAssocs []ParticipantStreamAssoc
	// Extensions are the unknown child elements of <recording>, in document
	// order, including voicegw's recordingID (see SetRecordingID).
	Extensions []Extension
}

// Group is a communication session group (<group group_id>, RFC 7865 §6.2).
type Group struct {
	ID               string      // group_id
	AssociateTime    time.Time   // when the group was associated with the recording
	DisassociateTime time.Time   // when it stopped being associated
	Extensions       []Extension // unknown child elements
}

// Session is a communication session (<session session_id>, RFC 7865 §6.3).
type Session struct {
	ID string // session_id
	// SIPSessionIDs are the <sipSessionID> values (RFC 7989 Session-ID
	// header values of the CS).
	SIPSessionIDs []string
	// Reasons are the <reason> elements: why the CS ended.
	Reasons []Reason
	// GroupRef is the group_id of the group the CS belongs to (<group-ref>).
	GroupRef  string
	StartTime time.Time // when the CS started
	// StopTime is set when the CS has ended.
	StopTime   time.Time
	Extensions []Extension // unknown child elements
}

// Reason is a <reason protocol cause> element of a session: the reason the CS
// was terminated, as in a SIP Reason header (RFC 3326).
type Reason struct {
	Protocol string // protocol attribute, "SIP" or "Q.850"
	Cause    string // cause attribute, such as "200"
	Text     string // the reason text
}

// Participant is a party of a communication session (<participant
// participant_id>, RFC 7865 §6.5).
type Participant struct {
	ID string // participant_id
	// NameIDs are the participant's addresses of record and display names.
	NameIDs []NameID
	// Send and Recv are stream IDs given directly in <participant> (the
	// draft-era form; RFC 7865 puts them in <participantstreamassoc>). Both
	// are taken into account by ParticipantStreams.
	Send       []string
	Recv       []string    // see Send
	Extensions []Extension // unknown child elements
}

// NameID is a participant's address of record with its display names
// (<nameID aor>).
type NameID struct {
	AOR   string // aor attribute: a SIP, SIPS or tel URI
	Names []Name // display names, one per language
}

// Name is a display name with its language (<name xml:lang>).
type Name struct {
	Lang string // xml:lang, "" when absent
	Text string // the name
}

// Stream is a media stream (<stream stream_id session_id>, RFC 7865 §6.7).
type Stream struct {
	ID        string // stream_id
	SessionID string // session_id of the CS the stream belongs to
	// Label is the a=label (RFC 4574) of the SDP m-line carrying the stream.
	Label      string
	Extensions []Extension // unknown child elements
}

// SessionRecordingAssoc associates a communication session with the recording
// session (<sessionrecordingassoc session_id>, RFC 7865 §6.4).
type SessionRecordingAssoc struct {
	SessionID        string      // session_id
	AssociateTime    time.Time   // when recording of the CS started
	DisassociateTime time.Time   // when it ended
	Extensions       []Extension // unknown child elements
}

// ParticipantSessionAssoc associates a participant with a communication
// session (<participantsessionassoc participant_id session_id>, RFC 7865 §6.6).
// An empty SessionID (a shape some clients send) means every session of the
// participant.
type ParticipantSessionAssoc struct {
	ParticipantID    string    // participant_id
	SessionID        string    // session_id, "" for every session
	AssociateTime    time.Time // when the participant joined
	DisassociateTime time.Time // when it left
	// Params are the <param pname pval> capabilities of the participant in
	// the CS (RFC 7865 §6.6.1).
	Params     []Param
	Extensions []Extension // unknown child elements
}

// Param is a <param pname pval> of a participantsessionassoc.
type Param struct {
	Name  string // pname
	Value string // pval
}

// ParticipantStreamAssoc lists the streams a participant sends and receives
// (<participantstreamassoc participant_id>, RFC 7865 §6.8).
type ParticipantStreamAssoc struct {
	ParticipantID    string      // participant_id
	Send             []string    // stream IDs the participant sends
	Recv             []string    // stream IDs the participant receives
	AssociateTime    time.Time   // when the association started
	DisassociateTime time.Time   // when it ended (see State.Apply)
	Extensions       []Extension // unknown child elements
}

// IsPartial reports whether the document is a partial update.
func (r *Recording) IsPartial() bool { return r.DataMode == Partial }

// Session returns the session with the given ID.
func (r *Recording) Session(id string) (Session, bool) {
	for _, s := range r.Sessions {
		if s.ID == id {
			return s, true
		}
	}
	return Session{}, false
}

// Participant returns the participant with the given ID.
func (r *Recording) Participant(id string) (Participant, bool) {
	for _, p := range r.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return Participant{}, false
}

// Stream returns the stream with the given ID.
func (r *Recording) Stream(id string) (Stream, bool) {
	for _, s := range r.Streams {
		if s.ID == id {
			return s, true
		}
	}
	return Stream{}, false
}

// StreamByLabel returns the first stream whose label is label.
func (r *Recording) StreamByLabel(label string) (Stream, bool) {
	for _, s := range r.Streams {
		if s.Label == label {
			return s, true
		}
	}
	return Stream{}, false
}

// AOR returns the participant's first address of record, or "".
func (p Participant) AOR() string {
	for _, n := range p.NameIDs {
		if n.AOR != "" {
			return n.AOR
		}
	}
	return ""
}

// DisplayName returns the participant's first non-empty display name, or "".
func (p Participant) DisplayName() string {
	for _, n := range p.NameIDs {
		for _, nm := range n.Names {
			if nm.Text != "" {
				return nm.Text
			}
		}
	}
	return ""
}

// Clone returns a deep copy of r. Nil slices stay nil.
func (r *Recording) Clone() *Recording {
	if r == nil {
		return nil
	}
	c := *r
	c.Groups = cloneEach(r.Groups, func(g Group) Group {
		g.Extensions = slices.Clone(g.Extensions)
		return g
	})
	c.Sessions = cloneEach(r.Sessions, func(s Session) Session {
		s.SIPSessionIDs = slices.Clone(s.SIPSessionIDs)
		s.Reasons = slices.Clone(s.Reasons)
		s.Extensions = slices.Clone(s.Extensions)
		return s
	})
	c.Participants = cloneEach(r.Participants, func(p Participant) Participant {
		p.NameIDs = cloneEach(p.NameIDs, func(n NameID) NameID {
			n.Names = slices.Clone(n.Names)
			return n
		})
		p.Send = slices.Clone(p.Send)
		p.Recv = slices.Clone(p.Recv)
		p.Extensions = slices.Clone(p.Extensions)
		return p
	})
	c.Streams = cloneEach(r.Streams, func(s Stream) Stream {
		s.Extensions = slices.Clone(s.Extensions)
		return s
	})
	c.SessionRecordingAssocs = cloneEach(r.SessionRecordingAssocs, func(a SessionRecordingAssoc) SessionRecordingAssoc {
		a.Extensions = slices.Clone(a.Extensions)
		return a
	})
	c.ParticipantSessionAssocs = cloneEach(r.ParticipantSessionAssocs, func(a ParticipantSessionAssoc) ParticipantSessionAssoc {
		a.Params = slices.Clone(a.Params)
		a.Extensions = slices.Clone(a.Extensions)
		return a
	})
	c.ParticipantStreamAssocs = cloneEach(r.ParticipantStreamAssocs, func(a ParticipantStreamAssoc) ParticipantStreamAssoc {
		a.Send = slices.Clone(a.Send)
		a.Recv = slices.Clone(a.Recv)
		a.Extensions = slices.Clone(a.Extensions)
		return a
	})
	c.Extensions = slices.Clone(r.Extensions)
	return &c
}

func cloneEach[T any](in []T, f func(T) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

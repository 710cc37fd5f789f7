package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// NewID returns a new random identifier in the form RFC 7865 uses for
// group_id, session_id, participant_id and stream_id: 16 random bytes
// (a UUID's worth), base64-encoded.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b[:])
}

// Call describes a call to record, for NewComplete.
type Call struct {
	// SessionID is the communication session's ID; "" picks NewID().
	SessionID string
	// GroupID, when set, adds a <group> and the session's group-ref.
	GroupID string
	// SIPSessionIDs are the call's Session-ID header values (RFC 7989).
	SIPSessionIDs []string
	// Start, when set, is the session's start-time and the associate-time
	// of every association.
	Start time.Time
	// Parties are the call's participants.
	Parties []Party
	// RecordingID, when set, is forwarded as voicegw's recordingID extension.
	RecordingID string
}

// Party is one participant of a Call and the stream it sends.
type Party struct {
	// ID is the participant ID; "" picks NewID().
	ID string
	// AOR is the participant's address of record (a SIP or tel URI).
	AOR string
	// Name and Lang are its display name and the name's language; both
	// optional.
	Name, Lang string
	// Label is the a=label of the SDP m-line carrying the audio this party
	// sends; "" when the party sends no stream of its own.
	Label string
	// StreamID is the ID of that stream; "" picks NewID().
	StreamID string
}

// NewComplete returns the complete metadata of call in the shape recording
// clients send (RFC 7865 §12.1, RFC 8068 §3.1.1): one session, one
// participant and participantsessionassoc per party, one stream per
// labelled party, and participantstreamassocs in which every party sends
// its own stream and receives every other party's. Generated IDs can be
// read back from the result.
func NewComplete(call Call) *Recording {
	r := &Recording{DataMode: Complete}
	sid := call.SessionID
	if sid == "" {
		sid = NewID()
	}
	if call.GroupID != "" {
		r.Groups = []Group{{ID: call.GroupID, AssociateTime: call.Start}}
	}
	r.Sessions = []Session{{ID: sid, SIPSessionIDs: call.SIPSessionIDs, GroupRef: call.GroupID, StartTime: call.Start}}
	r.SessionRecordingAssocs = []SessionRecordingAssoc{{SessionID: sid, AssociateTime: call.Start}}
	type party struct{ id, stream string }
	ps := make([]party, len(call.Parties))
	for i, p := range call.Parties {
		pid := p.ID
		if pid == "" {
			pid = NewID()
		}
		ps[i].id = pid
		n := NameID{AOR: p.AOR}
		if p.Name != "" {
			n.Names = []Name{{Lang: p.Lang, Text: p.Name}}
		}
		r.Participants = append(r.Participants, Participant{ID: pid, NameIDs: []NameID{n}})
		if p.Label != "" {
			st := p.StreamID
			if st == "" {
				st = NewID()
			}
			ps[i].stream = st
			r.Streams = append(r.Streams, Stream{ID: st, SessionID: sid, Label: p.Label})
		}
		r.ParticipantSessionAssocs = append(r.ParticipantSessionAssocs, ParticipantSessionAssoc{ParticipantID: pid, SessionID: sid, AssociateTime: call.Start})
	}
	for i, p := range ps {
		a := ParticipantStreamAssoc{ParticipantID: p.id}
		if p.stream != "" {
			a.Send = []string{p.stream}
		}
		for j, o := range ps {
			if j != i && o.stream != "" {
				a.Recv = append(a.Recv, o.stream)
			}
		}
		r.ParticipantStreamAssocs = append(r.ParticipantStreamAssocs, a)
	}
	r.SetRecordingID(call.RecordingID)
	return r
}
